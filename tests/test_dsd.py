"""Dual self-distillation (DSD) on mmseg's UNet: heads on the mini UNet's
bottleneck and decoder.2 taught by its auxiliary head (decoder.1) and the
labels, heads on encoder.0-2 taught by encoder.2's. The losses against the
official code's formulas by hand on the real model's outputs (values and
gradients), the Runner's checkpoint (the plain UNet's, the heads under
``distill_state``) and resume, the recipe's UNet-S5 losses, DDP on 2 CPU
processes and the KD doctor's rows."""
import copy
import math
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO
from mmkd import DistillModel
from mmkd.analysis import diagnose
from mmkd.models import DSDHead
from mmkd.models.teacher import load_config

pytest.importorskip('mmseg')
sys.path.insert(0, osp.join(REPO, 'tools'))
from train import build_runner  # noqa: E402

STUDENT = osp.join(REPO, 'configs/mini/seg/unet_s4_student.py')
RECIPE = osp.join(REPO, 'configs/distill/seg_dsd_unet.py')
NAMES = ['dsd_dec2', 'dsd_dec_bottleneck', 'dsd_enc']
S4 = ("distill = dict(losses=dict(_delete_=True, "
      "**_base_.dsd_unet_s4_losses))\n")


def dsd_cfg(work_dir, extra: str = '') -> Config:
    """The mini UNet with the recipe's 4-stage losses: 2 iterations of 2
    crops, checkpoints at both, no validation, no KD doctor run."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / 'dsd.py'
    path.write_text(f"_base_ = [{STUDENT!r}, 'mmkd::distill/seg_dsd_unet.py']"
                    f'\n{S4}{extra}')
    cfg = load_config(str(path), 'train')
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.update(max_iters=2, val_interval=100)
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                        by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.update(val_dataloader=None, val_cfg=None, val_evaluator=None)
    cfg.distill.diagnose = False
    return cfg


def batch_of(runner) -> dict:
    """Two training samples, collated (the runner's infinite sampler may
    be spent)."""
    loader = runner.train_dataloader
    return loader.collate_fn([loader.dataset[i] for i in range(2)])


class HeadsAtStart(Hook):
    """Keeps the heads as set up (or resumed), before the first iteration."""

    def before_train(self, runner) -> None:
        self.state = copy.deepcopy(
            runner.model.distill_modules.state_dict())


@pytest.fixture(scope='module')
def trained(mini_data, tmp_path_factory):
    """The recipe trained 2 iterations through the Runner."""
    runner = build_runner(dsd_cfg(tmp_path_factory.mktemp('dsd')))
    hook = HeadsAtStart()
    runner.register_hook(hook)
    runner.train()
    assert runner.iter == 2
    return runner, hook.state


def plain_student(cfg_path: str = STUDENT) -> torch.nn.Module:
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(Config.fromfile(cfg_path).model)


# ------------------------------------------------- the official formulas
def deep_up(head: DSDHead, x):
    """The official DeepUp: UnetOutBlock (1x1 conv), then its one
    UpSample deconv applied log2(scale) times (once at scale 1)."""
    z = F.conv2d(x, head.conv.weight, head.conv.bias)
    w, b = head.deconv.weight, head.deconv.bias
    for _ in range(max(1, int(math.log2(head.scale_factor)))):
        z = F.conv_transpose2d(z, w, b, stride=w.shape[-1])
    return z


def pixelwise_kl(inp, target, T=3):
    """Self_Distillation_Loss_KL's term: PixelWiseKLDiv(log_softmax(s / T),
    softmax(t / T)) (KLDivLoss(reduction='none').sum(dim=1).mean()) * T^2;
    the target is not detached there."""
    kl = torch.nn.KLDivLoss(reduction='none', log_target=False)
    return kl(F.log_softmax(inp / T, dim=1),
              F.softmax(target / T, dim=1)).sum(dim=1).mean() * T**2


def monai_dice_ce(logits, gt):
    """monai DiceCELoss(include_background=True, to_onehot_y=True,
    softmax=True, lambda_dice=1, lambda_ce=1), image by image and class by
    class."""
    prob = logits.softmax(1)
    dice = [1 - (2 * (prob[n, c] * (gt[n] == c)).sum() + 1e-5) /
            (prob[n, c].sum() + (gt[n] == c).sum() + 1e-5)
            for n in range(logits.shape[0]) for c in range(logits.shape[1])]
    return torch.stack(dice).mean() + F.cross_entropy(logits, gt)


def unet_maps(unet, x):
    """mmseg UNet.forward step by step: the encoder stages and the
    decoder outputs (bottleneck first)."""
    enc = []
    for stage in unet.encoder:
        x = stage(x)
        enc.append(x)
    dec = [x]
    for i in reversed(range(len(unet.decoder))):
        x = unet.decoder[i](enc[i], x)
        dec.append(x)
    return enc, dec


def test_head_is_the_official_deep_up():
    head = DSDHead(8, 4, scale_factor=4)
    # one 1x1 conv and one 2x2 stride-2 deconv, used twice
    assert [p.shape for p in head.parameters()] == [
        (4, 8, 1, 1), (4, ), (4, 4, 2, 2), (4, )]
    x = torch.randn(2, 8, 6, 6)
    assert torch.allclose(head(x), deep_up(head, x), atol=1e-6)
    assert head(x).shape == (2, 4, 24, 24)
    one = DSDHead(8, 4, scale_factor=1)
    assert one.deconv.kernel_size == (1, 1)
    assert torch.allclose(one(x), deep_up(one, x), atol=1e-6)
    lazy = DSDHead(None, 4, scale_factor=2, upsample='bilinear')
    assert lazy(x).shape == (2, 4, 12, 12) and lazy.conv.in_channels == 8
    with pytest.raises(ValueError, match='power of 2'):
        DSDHead(8, 4, scale_factor=3)


def test_losses_are_the_official_formulas(trained):
    """Each DSD loss and the gradients of their sum (on the student and the
    heads) equal the official formulas by hand on the same UNet."""
    runner, _ = trained
    model = runner.model
    heads = model.connectors
    enc_loss = model.distill_losses['dsd_enc']
    # channels and classes from the probed records
    assert [(heads[n].conv.in_channels, heads[n].conv.out_channels,
             heads[n].scale_factor) for n in NAMES[:2]] == [(32, 4, 2),
                                                            (64, 4, 4)]
    assert [(h.conv.in_channels, h.conv.out_channels, h.scale_factor)
            for h in enc_loss.heads] == [(8, 4, 1), (16, 4, 2), (32, 4, 4)]

    model.eval()  # no dropout in the FCN heads: two forwards agree
    data = model.module.data_preprocessor(batch_of(runner), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    ours = {n: losses[f'distill.loss_{n}'] for n in NAMES}

    student = model.module
    enc, dec = unet_maps(student.backbone, data['inputs'])
    aux = student.auxiliary_head(dec)  # the deepest decoder's class map
    assert aux.shape == (2, 4, 48, 48)
    gt = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']])
    assert gt.shape == (2, 96, 96) and (gt != 255).all()

    def decoder_term(head, stage):
        z = deep_up(head, stage)
        return (pixelwise_kl(z, aux.detach()) + monai_dice_ce(
            F.interpolate(z, gt.shape[-2:], mode='bilinear',
                          align_corners=False), gt))

    maps = [deep_up(h, x) for h, x in zip(enc_loss.heads, enc[:3])]
    assert maps[0].shape == (2, 4, 96, 96)
    hand = dict(
        dsd_dec2=decoder_term(heads['dsd_dec2'], dec[1]),
        dsd_dec_bottleneck=decoder_term(heads['dsd_dec_bottleneck'], enc[3]),
        dsd_enc=pixelwise_kl(maps[0], maps[2]) +
        pixelwise_kl(maps[1], maps[2]))
    for name in NAMES:
        assert float(ours[name]) == pytest.approx(float(hand[name]),
                                                  rel=1e-5), name

    params = [p for part in (student, heads, model.distill_losses)
              for p in part.parameters()]
    g_ours = torch.autograd.grad(sum(ours.values()), params,
                                 allow_unused=True)
    g_hand = torch.autograd.grad(sum(hand.values()), params,
                                 allow_unused=True)
    for a, b in zip(g_ours, g_hand):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)
    grads = dict(zip([id(p) for p in params], g_ours))
    # the decoders' teacher is detached (mmkd's contract), the encoders'
    # deepest head is not (as the official code)
    assert grads[id(student.auxiliary_head.conv_seg.weight)] is None
    assert grads[id(enc_loss.heads[2].conv.weight)].abs().sum() > 0
    assert grads[id(student.backbone.encoder[0][0].convs[0].conv.weight)
                 ].abs().sum() > 0
    model.train()


def test_checkpoint_plain_unet_and_resume(trained, tmp_path):
    """The checkpoint is the plain UNet's (strict load); the heads are
    under distill_state, trained, and restored by resume."""
    runner, start = trained
    ckpt_path = osp.join(runner.work_dir, 'iter_1.pth')
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=True)
    result = plain_student().load_state_dict(ckpt['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    state = ckpt['distill_state']
    assert set(state) == {
        *(f'connectors.{n}.{m}.{p}' for n in NAMES[:2]
          for m in ('conv', 'deconv') for p in ('weight', 'bias')),
        *(f'losses.dsd_enc.heads.{i}.{m}.{p}' for i in range(3)
          for m in ('conv', 'deconv') for p in ('weight', 'bias'))}
    assert not any('dsd' in k for k in ckpt['state_dict'])
    moved = [k for k, v in start.items() if not torch.equal(v, state[k])]
    assert 'connectors.dsd_dec2.conv.weight' in moved  # optimised
    assert 'losses.dsd_enc.heads.2.conv.weight' in moved

    cfg = dsd_cfg(tmp_path / 'resume')
    cfg.update(resume=True, load_from=ckpt_path)
    resumed = build_runner(cfg)
    hook = HeadsAtStart()
    resumed.register_hook(hook)
    resumed.train()  # iteration 2 after the resume
    assert resumed.iter == 2
    assert set(hook.state) == set(state)
    for key, value in hook.state.items():
        assert torch.equal(value, state[key]), key


def test_recipe_losses_on_mmseg_unet_s5(trained):
    """The recipe's default (UNet-S5) losses set up on mmseg's 5-stage
    UNet: the bottleneck and decoder.3/2 under the auxiliary head on
    decoder.1, encoder.0-3 under encoder.3."""
    cfg = Config.fromfile(STUDENT)
    cfg.model.backbone.update(
        num_stages=5, strides=(1, ) * 5, enc_num_convs=(2, ) * 5,
        dec_num_convs=(2, ) * 4, downsamples=(True, ) * 4,
        enc_dilations=(1, ) * 5, dec_dilations=(1, ) * 4)
    cfg.model.decode_head.in_index = 4
    cfg.model.auxiliary_head.in_index = 3
    recipe = Config.fromfile(RECIPE)
    assert recipe.distill.losses == recipe.dsd_unet_s5_losses
    batch = batch_of(trained[0])  # 96x96 crops
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = DistillModel(cfg.model, self_distill=True,
                             losses=recipe.distill.losses)
        model.setup(batch)
    heads = model.connectors
    assert {n: (h.conv.in_channels, h.scale_factor)
            for n, h in heads.items()} == {
                'dsd_dec_bottleneck': (128, 8), 'dsd_dec3': (64, 4),
                'dsd_dec2': (32, 2)}
    assert [h.conv.in_channels for h in
            model.distill_losses['dsd_enc'].heads] == [8, 16, 32, 64]
    data = model.module.data_preprocessor(batch, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert all(torch.isfinite(losses[f'distill.loss_{n}']) for n in
               ('dsd_dec_bottleneck', 'dsd_dec3', 'dsd_dec2', 'dsd_enc'))


def unscoped(cfg):
    """``cfg`` without the ``_scope_`` keys a scoped base gets."""
    if isinstance(cfg, dict):
        return {k: unscoped(v) for k, v in cfg.items() if k != '_scope_'}
    return cfg


def test_zoo_configs():
    plain = Config.fromfile(osp.join(REPO, 'configs/zoo/unet_student.py'))
    dsd = Config.fromfile(osp.join(REPO, 'configs/zoo/unet_student_dsd.py'))
    recipe = Config.fromfile(RECIPE)
    assert 'distill' not in plain
    assert dsd.runner_type == 'mmkd.DistillRunner'
    assert dsd.distill.self_distill is True and 'teacher' not in dsd.distill
    assert unscoped(dsd.distill.losses) == unscoped(
        recipe.dsd_unet_s4_losses)
    for key in ('model', 'train_dataloader', 'train_cfg', 'param_scheduler',
                'optim_wrapper'):
        assert dsd[key] == plain[key], key
    losses = dsd.distill.losses
    assert all((loss.tau, loss.loss_weight) == (3.0, 1.0)
               for loss in losses.values())
    assert losses.dsd_dec2.ds_weight == 1.0


def test_kd_doctor_reads_the_dsd_rows(trained):
    runner, _ = trained
    model = runner.model
    batch = batch_of(runner)
    diagnosis = diagnose(model, batch)
    rows = {d.name: d for d in diagnosis.losses}
    assert sorted(rows) == NAMES
    for name in NAMES:
        row = rows[name]
        assert row.type == ('DSDEncoderLoss' if name == 'dsd_enc'
                            else 'DSDLoss')
        assert row.value > 0 and row.grad_norm > 0 and row.reached > 0
        assert row.student_grad_path
    assert rows['dsd_dec2'].student.shape == (2, 32, 24, 24)
    assert rows['dsd_dec2'].connector.shape == (2, 4, 48, 48)
    assert rows['dsd_dec2'].teacher.shape == (2, 4, 48, 48)
    assert rows['dsd_enc'].student.shape == (2, 8, 96, 96)  # encoder.0
    assert rows['dsd_enc'].teacher_spec == 'decode_head.conv_seg:output'
    assert 'distill.loss_dsd_enc' in diagnosis.report()


def test_ddp_two_processes(mini_data, tmp_path):
    """torchrun, 2 CPU processes (gloo): the heads are wrapped with the
    student and saved under distill_state."""
    from test_ddp import train
    path = tmp_path / 'dsd_ddp.py'
    path.write_text(
        f"_base_ = [{STUDENT!r}, 'mmkd::distill/seg_dsd_unet.py']\n"
        'distill = dict(diagnose=False, losses=dict(_delete_=True, '
        '**_base_.dsd_unet_s4_losses))\n'
        'train_dataloader = dict(batch_size=2)\n'
        'train_cfg = dict(max_iters=2, val_interval=100)\n'
        'default_hooks = dict(logger=dict(interval=1), '
        'checkpoint=dict(interval=2))\n'
        'env_cfg = dict(dist_cfg=dict(timeout=60))\n')
    work = tmp_path / 'work'
    code, log = train(str(path), work, 2)
    assert code == 0, log[-4000:]
    assert 'wraps the student and 2 connectors on each of 2' in log
    assert 'distill.loss_dsd_enc' in log
    ckpt = torch.load(str(work / 'iter_2.pth'), map_location='cpu',
                      weights_only=True)
    plain_student().load_state_dict(ckpt['state_dict'], strict=True)
    assert 'losses.dsd_enc.heads.0.conv.weight' in ckpt['distill_state']

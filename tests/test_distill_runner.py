"""DistillRunner/DistillModel through mmengine's real Runner on a small
classifier (fast); the mmdet/mmpose/mmseg models are in test_integration."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.runner import load_checkpoint

from mmkd import DistillLossError, DistillModel, DistillRunner
from mmkd.registry import MODELS


@ROOT_MODELS.register_module(force=True)
class ToyNet(BaseModel):
    """Conv-BN backbone + linear head classifier with the mmengine API."""

    def __init__(self, width: int = 4, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.backbone = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width),
            nn.ReLU())
        self.head = nn.Linear(width, 2)

    def init_weights(self):
        super().init_weights()
        nn.init.constant_(self.head.weight, 0.01)  # visible if re-applied

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        logits = self.head(self.backbone(x).mean((2, 3)))
        if mode == 'loss':
            labels = torch.as_tensor(data_samples)
            return dict(loss_cls=F.cross_entropy(logits, labels))
        if mode == 'predict':
            return logits.argmax(1).tolist()
        return logits


@MODELS.register_module(force=True)
class NaNAfter(nn.Module):
    """MSE that turns NaN after `after` calls (for the NaN-stop test)."""

    def __init__(self, after: int = 3, loss_weight: float = 1.0):
        super().__init__()
        self.after, self.calls, self.loss_weight = after, 0, loss_weight

    def forward(self, student, teacher):
        self.calls += 1
        loss = F.mse_loss(student, teacher) * self.loss_weight
        return loss * float('nan') if self.calls > self.after else loss


@ROOT_DATASETS.register_module(force=True)
class ToyDataset(torch.utils.data.Dataset):

    def __init__(self, n: int = 16):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, 8, 8, generator=g)
        self.y = (self.x.mean((1, 2, 3)) > 0).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], data_samples=int(self.y[i]))


class FactorLog(Hook):
    """Records the loss factors and teacher state seen by every iteration."""
    priority = 'LOWEST'

    def __init__(self):
        self.factors, self.teacher_training = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = runner.model
        self.factors.append(dict(model.loss_factors))
        self.teacher_training.append(
            any(m.training for m in model.teacher.modules()))


def train_teacher(tmp_path, width=8) -> str:
    torch.manual_seed(1)
    teacher = ToyNet(width)
    path = str(tmp_path / f'teacher_w{width}.pth')
    torch.save(dict(state_dict=teacher.state_dict(), meta={}), path)
    return path


def make_cfg(tmp_path, teacher_ckpt, losses=None, schedules=(), epochs=4,
             **distill):
    return dict(
        model=dict(type='ToyNet', width=4),
        work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(
            dataset=dict(type='ToyDataset'), batch_size=4, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        distill=dict(
            teacher=dict(config=dict(model=dict(type='ToyNet', width=8)),
                         checkpoint=teacher_ckpt),
            losses=losses if losses is not None else dict(
                feat=dict(type='MSELoss', loss_weight=1.0,
                          student='backbone', teacher='backbone')),
            schedules=list(schedules), **distill),
        default_scope='mmengine',
    )


def build(cfg) -> DistillRunner:
    return DistillRunner.from_cfg(copy.deepcopy(cfg))


def test_training_with_linear_decay_and_auto_connector(tmp_path):
    ckpt = train_teacher(tmp_path)
    cfg = make_cfg(tmp_path, ckpt,
                   schedules=[dict(type='LinearDecayWeight')])
    runner = build(cfg)
    log = FactorLog()
    runner.register_hook(log)
    runner.train()
    model = runner.model
    assert isinstance(model, DistillModel)
    # 4 channels -> 8 channels: a 1x1 conv connector was built and trained
    conn = model.connectors['feat']
    assert type(conn).__name__ == 'ConvConnector'
    assert conn.layers[0].in_channels == 4 and conn.layers[0].out_channels == 8
    opt_params = {id(p) for g in runner.optim_wrapper.optimizer.param_groups
                  for p in g['params']}
    assert all(id(p) in opt_params for p in conn.parameters())
    assert not any(id(p) in opt_params for p in model.teacher.parameters())
    # DWPose decay 1 - epoch/max_epochs, per epoch (4 iters per epoch)
    assert [f['feat'] for f in log.factors] == [1.0] * 4 + [0.75] * 4 + \
        [0.5] * 4 + [0.25] * 4
    assert not any(log.teacher_training)  # teacher BN stays in eval
    # the distill loss is logged on its own next to the student's loss
    scalars = runner.message_hub.log_scalars
    assert 'train/distill.loss_feat' in scalars
    assert 'train/loss_cls' in scalars
    assert scalars['train/distill.w_feat'].current() == 0.25


def test_teacher_frozen_untouched_and_not_saved(tmp_path):
    ckpt = train_teacher(tmp_path)
    runner = build(make_cfg(tmp_path, ckpt, epochs=1))
    runner.train()
    teacher = runner.model.teacher
    saved = torch.load(ckpt)['state_dict']
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, saved[k]), k  # not trained, not re-initialised
    assert all(not p.requires_grad for p in teacher.parameters())
    # the student was initialised by init_weights, the teacher was not
    assert torch.allclose(saved['head.weight'], teacher.head.weight)
    # loadable by torch>=2.6's default weights-only load (mmdet's test.py)
    ck = torch.load(osp.join(runner.work_dir, 'epoch_1.pth'),
                    weights_only=True)
    assert set(ck['state_dict']) == set(ToyNet(4).state_dict())
    assert set(ck['distill_state']) == {
        'connectors.feat.layers.0.weight', 'connectors.feat.layers.0.bias'}
    # the checkpoint loads into the plain student with no missing/unexpected
    plain = ToyNet(4)
    result = plain.load_state_dict(ck['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_teacher_runs_only_as_far_as_needed(tmp_path):
    ckpt = train_teacher(tmp_path)
    runner = build(make_cfg(tmp_path, ckpt, epochs=1))
    runner.train()
    head_calls = []
    runner.model.teacher.head.register_forward_hook(
        lambda *a: head_calls.append(1))
    batch = next(iter(runner.train_dataloader))
    runner.model.train_step(batch, runner.optim_wrapper)
    assert head_calls == []  # only the backbone was needed


def test_resume_continues_exactly(tmp_path):
    ckpt = train_teacher(tmp_path)
    full = build(make_cfg(tmp_path / 'a', ckpt,
                          schedules=[dict(type='LinearDecayWeight')]))
    full.train()
    part = build(make_cfg(tmp_path / 'b', ckpt,
                          schedules=[dict(type='LinearDecayWeight')]))

    class Interrupt(Hook):
        priority = 'LOWEST'  # after the CheckpointHook saved epoch_2.pth

        def after_train_epoch(self, runner):
            if runner.epoch == 2:
                raise KeyboardInterrupt

    part.register_hook(Interrupt())
    with pytest.raises(KeyboardInterrupt):
        part.train()
    cfg = make_cfg(tmp_path / 'b', ckpt,
                   schedules=[dict(type='LinearDecayWeight')])
    cfg.update(resume=True,
               load_from=osp.join(tmp_path / 'b' / 'work', 'epoch_2.pth'))
    resumed = build(cfg)
    resumed.train()
    assert resumed.epoch == 4
    for (k, a), b in zip(full.model.state_dict().items(),
                         resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
    for a, b in zip(full.model.connectors.parameters(),
                    resumed.model.connectors.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert resumed.model.loss_factors == full.model.loss_factors


def test_test_builds_no_teacher_and_loads_student(tmp_path):
    ckpt = train_teacher(tmp_path)
    runner = build(make_cfg(tmp_path, ckpt, epochs=1))
    runner.train()
    cfg = make_cfg(tmp_path / 't', str(tmp_path / 'missing.pth'))
    cfg['load_from'] = osp.join(runner.work_dir, 'epoch_1.pth')
    tester = build(cfg)
    tester.load_checkpoint(cfg['load_from'])
    assert tester.model.teacher is None  # a missing teacher ckpt is no issue
    for a, b in zip(runner.model.state_dict().values(),
                    tester.model.state_dict().values()):
        assert torch.equal(a, b)


def test_nan_stops_with_name_and_keeps_last_good(tmp_path):
    ckpt = train_teacher(tmp_path)
    losses = dict(bad=dict(type='NaNAfter', after=6, student='head',
                           teacher='head'))
    runner = build(make_cfg(tmp_path, ckpt, losses=losses))
    with pytest.raises(DistillLossError, match='distill.loss_bad'):
        runner.train()
    # probe trial (1 call) + 5 good iterations, the 6th iteration is NaN
    good = osp.join(runner.work_dir, 'last_good_iter_5.pth')
    assert osp.isfile(good)
    state = torch.load(good, weights_only=False)['state_dict']
    for k, v in runner.model.state_dict().items():
        assert torch.equal(v.cpu(), state[k]), k  # no NaN step was taken
    assert all(torch.isfinite(v.float()).all() for v in state.values())


@pytest.mark.parametrize('change, error, match', [
    (dict(losses=dict(f=dict(type='MSELoss', student='backbone.9',
                             teacher='backbone'))), KeyError, 'backbone.2'),
    (dict(losses=dict(f=dict(type='MSELoss', student='backbone',
                             teacher='backbone', tau=2.0))), TypeError,
     'does not take'),
    (dict(losses=dict(f=dict(type='NoSuchLoss', student='backbone',
                             teacher='backbone'))), KeyError, 'NoSuchLoss'),
])
def test_bad_config_fails_at_build(tmp_path, change, error, match):
    cfg = make_cfg(tmp_path, train_teacher(tmp_path), **{})
    cfg['distill'].update(change)
    with pytest.raises(error, match=match):
        build(cfg)


def test_bad_teacher_fails_before_first_iteration(tmp_path):
    ckpt = train_teacher(tmp_path)
    cases = [
        (dict(teacher=dict(config='no/such/config.py', checkpoint=ckpt)),
         FileNotFoundError, 'config'),
        (dict(teacher=dict(config=dict(model=dict(type='ToyNet', width=8)),
                           checkpoint=str(tmp_path / 'nope.pth'))),
         FileNotFoundError, 'checkpoint'),
        (dict(teacher=dict(config=dict(model=dict(type='ToyNet', width=6)),
                           checkpoint=ckpt)),
         ValueError, 'shape mismatches'),
        (dict(losses=dict(f=dict(type='MSELoss', student='head',
                                 teacher='backbone'))),
         ValueError, 'rank'),
    ]
    for change, error, match in cases:
        cfg = make_cfg(tmp_path, ckpt)
        cfg['distill'].update(change)
        runner = build(cfg)
        iters = []
        runner.register_hook(type('H', (Hook, ), dict(
            before_train_iter=lambda self, *a, **k: iters.append(1)))())
        with pytest.raises(error, match=match):
            runner.train()
        assert iters == []


def test_explicit_connector_and_channel_args_filled_from_probe(tmp_path):
    ckpt = train_teacher(tmp_path)
    losses = dict(
        feat=dict(type='MSELoss', student='backbone', teacher='backbone',
                  connector=dict(type='ConvConnector', norm=True)),
        mgd=dict(type='MGDLoss', student='backbone', teacher='backbone'))
    runner = build(make_cfg(tmp_path, ckpt, losses=losses, epochs=1))
    runner.train()
    model = runner.model
    conv = model.connectors['feat'].layers
    assert (conv[0].in_channels, conv[0].out_channels) == (4, 8)
    assert isinstance(conv[1], nn.BatchNorm2d)
    # MGD aligns itself: channels filled in, no auto connector
    assert 'mgd' not in model.connectors
    mgd_convs = [m for m in model.distill_losses['mgd'].modules()
                 if isinstance(m, nn.Conv2d)]
    assert mgd_convs[0].in_channels == 4
    assert {m.out_channels for m in mgd_convs} == {8}
    opt_params = {id(p) for g in runner.optim_wrapper.optimizer.param_groups
                  for p in g['params']}
    assert all(id(p) in opt_params
               for p in model.distill_losses['mgd'].parameters())


def test_stop_at_epoch_skips_the_teacher(tmp_path):
    ckpt = train_teacher(tmp_path)
    runner = build(make_cfg(
        tmp_path, ckpt, epochs=3,
        schedules=[dict(type='StopDistillAtEpoch', stop_epoch=1)]))
    log = FactorLog()
    runner.register_hook(log)
    teacher_calls = []

    class CountTeacher(Hook):

        def before_train(self, runner):
            runner.model.teacher.register_forward_pre_hook(
                lambda *a: teacher_calls.append(runner.epoch))

    runner.register_hook(CountTeacher())
    runner.train()
    assert [f['feat'] for f in log.factors] == [1.0] * 4 + [0.0] * 8
    assert teacher_calls == [0] * 4  # not run once its loss is off
    assert 'train/distill.loss_feat' not in runner.message_hub.log_scalars \
        or runner.message_hub.log_scalars[
            'train/distill.loss_feat'].data[0].size == 4


def test_unknown_schedule_loss_name(tmp_path):
    ckpt = train_teacher(tmp_path)
    runner = build(make_cfg(tmp_path, ckpt, epochs=1, schedules=[
        dict(type='LinearDecayWeight', losses=['nope'])]))
    with pytest.raises(KeyError, match='nope'):
        runner.train()


def test_teacher_autocast_bf16_close_to_fp32(tmp_path):
    """distill.teacher.autocast='bf16': the teacher runs in bf16, the loss
    is fp32 and close to the fp32 teacher's."""
    ckpt = train_teacher(tmp_path)
    data = dict(inputs=ToyDataset(4).x, data_samples=[0, 1, 0, 1])

    def distill_loss(autocast):
        torch.manual_seed(0)
        model = DistillModel(
            student=dict(type='ToyNet', width=4),
            teacher=dict(config=dict(model=dict(type='ToyNet', width=8)),
                         checkpoint=ckpt, autocast=autocast),
            losses=dict(feat=dict(type='MSELoss', student='backbone',
                                  teacher='backbone')))
        model.setup(data)
        dtypes = []
        model.teacher.backbone[0].register_forward_hook(  # the conv
            lambda m, i, out: dtypes.append(out.dtype))
        loss = model.loss(data['inputs'], data['data_samples'])
        loss['distill.loss_feat'].backward()
        grad = model.connectors['feat'].layers[0].weight.grad
        assert grad is not None and torch.isfinite(grad).all()
        return loss['distill.loss_feat'], dtypes

    fp32, dtypes = distill_loss(None)
    assert dtypes == [torch.float32]
    bf16, dtypes = distill_loss('bf16')
    assert dtypes == [torch.bfloat16]
    assert bf16.dtype == torch.float32
    assert torch.allclose(bf16, fp32, rtol=2e-2), (bf16, fp32)
    with pytest.raises(ValueError, match='autocast'):
        DistillModel(student=dict(type='ToyNet', width=4),
                     teacher=dict(config={}, checkpoint=ckpt,
                                  autocast='fp8'))

"""NKD and USKD (Yang et al., ICCV 2023) on the mini mmpretrain
classifiers: both losses equal the authors' code (yzd-v/cls_KD, transcribed
below) in value and gradient on real ImageClassifier outputs; NKD trains
with the mini teacher; USKD trains without one (self_distill=True), its
weak classifier ``fc`` is optimised, saved under ``distill_state`` (the
student's checkpoint loads into the plain config), restored by resume,
kept equal across 2 DDP processes, and read by the KD doctor."""
import copy
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO
from mmkd.models import NKDLoss, USKDLoss
from mmkd.models.teacher import load_config

pytest.importorskip('mmpretrain')
from test_classification import STUDENT, FirstIter, _kd_cfg  # noqa: E402
from test_classification import cls_data, teacher_ckpt  # noqa: E402,F401
from test_ddp import train  # noqa: E402
from train import build_runner  # noqa: E402  (tools/, on the path now)


# ------------------------------------------- the authors' code, transcribed
def official_nkd(logit_s, logit_t, gt_label, temp=1.0, gamma=1.5):
    """yzd-v/cls_KD mmcls/models/dis_losses/nkd.py, NKDLoss.forward."""
    label = gt_label.view(len(gt_label), 1)
    N, c = logit_s.shape
    s_i = F.log_softmax(logit_s, dim=1)
    t_i = F.softmax(logit_t, dim=1)
    s_t = torch.gather(s_i, 1, label)
    t_t = torch.gather(t_i, 1, label).detach()
    loss_t = -(t_t * s_t).mean()
    mask = torch.ones_like(logit_s).scatter_(1, label, 0).bool()
    logit_s = logit_s[mask].reshape(N, -1)
    logit_t = logit_t[mask].reshape(N, -1)
    S_i = F.log_softmax(logit_s / temp, dim=1)
    T_i = F.softmax(logit_t / temp, dim=1)
    loss_non = (T_i * S_i).sum(dim=1).mean()
    loss_non = -gamma * (temp**2) * loss_non
    return loss_t + loss_non


def official_uskd(fea_mid, logit_s, gt_label, fc, alpha=1.0, beta=0.1,
                  mu=0.005):
    """yzd-v/cls_KD mmcls/models/dis_losses/uskd.py, USKDLoss.forward (hard
    labels); ``fea_mid`` is ``student.neck(fea_s[-2])``, the pooled third
    stage."""
    num_classes = logit_s.shape[1]
    zipf = 1 / torch.arange(1, num_classes + 1)
    label = gt_label.view(len(gt_label), 1)
    value = torch.ones_like(label)
    N, c = logit_s.shape
    s_i = F.softmax(logit_s, dim=1)
    s_t = torch.gather(s_i, 1, label)
    p_t = s_t**2
    p_t = p_t + value - p_t.mean(0, True)
    p_t[value == 0] = 0
    p_t = p_t.detach()
    s_i = F.log_softmax(logit_s, dim=1)
    s_t = torch.gather(s_i, 1, label)
    loss_t = -(p_t * s_t).sum(dim=1).mean()
    target = torch.zeros_like(logit_s).scatter_(1, label, 0.9) + \
        0.1 * torch.ones_like(logit_s) / c
    w_fc = fc(fea_mid)
    w_i = F.log_softmax(w_fc, dim=1)
    loss_weak = -(mu * target * w_i).sum(dim=1).mean()
    w_i = F.softmax(w_fc, dim=1)
    w_t = torch.gather(w_i, 1, label)
    rank = w_i / (1 - w_t.sum(1, True) + 1e-6) + \
        s_i / (1 - s_t.sum(1, True) + 1e-6)
    _, rank = torch.sort(rank, descending=True, dim=-1)
    z_i = zipf.repeat(N, 1)
    ids_sort = torch.argsort(rank)
    z_i = torch.gather(z_i, dim=1, index=ids_sort)
    mask = torch.ones_like(logit_s).scatter_(1, label, 0).bool()
    logit_s = logit_s[mask].reshape(N, -1)
    ns_i = F.log_softmax(logit_s, dim=1)
    nz_i = z_i[mask].reshape(N, -1)
    nz_i = nz_i / nz_i.sum(dim=1, keepdim=True)
    nz_i = nz_i.detach()
    loss_non = -(nz_i * ns_i).sum(dim=1).mean()
    return alpha * loss_t + beta * loss_non + loss_weak


def _grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


def _labels(data_samples):
    return torch.cat([d.gt_label for d in data_samples])


# -------------------------------------------------------------------- NKD
def test_nkd_recipe_equals_authors_code(teacher_ckpt, tmp_path):
    """cls_nkd.py with the mini teacher through the Runner: its first loss
    is the authors' NKD of the two classifiers' logits, and the loss and its
    gradient equal theirs at other temperatures and gammas too."""
    runner = build_runner(_kd_cfg('mmkd::distill/cls_nkd.py', teacher_ckpt,
                                  str(tmp_path / 'work')))
    checked = []

    def expect(model, batch):
        model.setup(batch)
        data = model.module.data_preprocessor(batch, True)
        samples = data['data_samples']
        labels = _labels(samples)
        student = copy.deepcopy(model.module).train()  # BN as in training
        t_in = model.teacher.data_preprocessor(batch, False)['inputs']
        with torch.no_grad():
            s = student(data['inputs'], mode='tensor')
            t = model.teacher(t_in, mode='tensor')
        assert s.shape == t.shape == (8, 8)
        for temp, gamma in ((1.0, 1.5), (4.0, 0.5)):
            ours_s = s.clone().requires_grad_()
            theirs_s = s.clone().requires_grad_()
            ours = NKDLoss(temp, gamma)(ours_s, t, data_samples=samples)
            theirs = official_nkd(theirs_s, t, labels, temp, gamma)
            assert float(ours) == pytest.approx(float(theirs), rel=1e-6)
            g_ours, = _grads(ours, [ours_s])
            g_theirs, = _grads(theirs, [theirs_s])
            assert torch.allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-8)
            assert g_ours.abs().sum() > 0
            checked.append((temp, gamma))
        return official_nkd(s, t, labels)

    hook = FirstIter(expect)
    runner.register_hook(hook)
    runner.train()
    assert runner.iter == 4 and len(checked) == 2
    assert runner.model.distill_losses['nkd'].gamma == 1.5
    assert hook.outputs['distill.loss_nkd'] == pytest.approx(
        float(hook.expected), rel=1e-4, abs=1e-6)


# ------------------------------------------------------------------- USKD
def _uskd_cfg(tmp_path, name: str, epochs: int = 2) -> Config:
    """The mini student with cls_uskd.py: one deterministic batch of 8
    first (no augmentation, no shuffling), a checkpoint every epoch."""
    work = tmp_path / name
    work.mkdir()
    path = work / 'uskd.py'
    path.write_text(f'_base_ = [{STUDENT!r}, "mmkd::distill/cls_uskd.py"]\n')
    cfg = load_config(str(path), 'train')
    cfg.work_dir = str(work)
    cfg.train_cfg.update(max_epochs=epochs, val_interval=100)
    cfg.train_dataloader.batch_size = 8
    cfg.train_dataloader.dataset.pipeline = \
        cfg.val_dataloader.dataset.pipeline
    cfg.train_dataloader.sampler.shuffle = False
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=-1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    return cfg


class KeepFc(Hook):
    """The USKD loss's fc when training starts (after a resume) and the
    optimizer's parameters."""

    def before_train(self, runner):
        fc = runner.model.distill_losses['uskd'].fc
        self.start = copy.deepcopy(fc.state_dict())
        self.optimised = {id(p) for g in runner.optim_wrapper.optimizer
                          .param_groups for p in g['params']}


def _load(path) -> dict:
    return torch.load(str(path), map_location='cpu', weights_only=True)


def test_uskd_trains_saves_resumes_and_is_diagnosed(cls_data, tmp_path):
    cfg = _uskd_cfg(tmp_path, 'run')
    assert cfg.distill.self_distill and 'teacher' not in cfg.distill
    runner = build_runner(cfg)
    seen = {}

    def expect(model, batch):
        model.setup(batch)  # the loss and its fc (as training does)
        assert model.teacher is None
        data = model.module.data_preprocessor(batch, True)
        samples = data['data_samples']
        labels = _labels(samples)
        assert labels.tolist() == [i % 8 for i in range(8)]
        student = copy.deepcopy(model.module).train()
        stage3 = []
        student.backbone.layer3.register_forward_hook(
            lambda m, i, o: stage3.append(o))
        with torch.no_grad():
            logits = student(data['inputs'], mode='tensor')
        feat = stage3[0]
        loss = copy.deepcopy(model.distill_losses['uskd'])
        seen.update(feat=tuple(feat.shape), fc=copy.deepcopy(
            loss.fc.state_dict()))
        # the authors': their GlobalAveragePooling neck on the third stage
        fc = copy.deepcopy(loss.fc)
        theirs_in = [feat.clone().requires_grad_(),
                     logits.clone().requires_grad_()]
        pooled = nn.AdaptiveAvgPool2d((1, 1))(theirs_in[0]).view(8, -1)
        theirs = official_uskd(pooled, theirs_in[1], labels, fc)
        ours_in = [feat.clone().requires_grad_(),
                   logits.clone().requires_grad_()]
        ours = loss(tuple(ours_in), logits.detach(), data_samples=samples)
        assert float(ours) == pytest.approx(float(theirs), rel=1e-6)
        g_theirs = _grads(theirs, theirs_in + list(fc.parameters()))
        g_ours = _grads(ours, ours_in + list(loss.fc.parameters()))
        for a, b in zip(g_ours, g_theirs):
            assert a.abs().sum() > 0
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-9)
        # without the target record: the student's logits, detached
        again = loss(tuple(ours_in), None, data_samples=samples)
        assert float(again) == pytest.approx(float(ours), rel=1e-6)
        return theirs.detach()

    first, keep = FirstIter(expect), KeepFc()
    runner.register_hook(first)
    runner.register_hook(keep)
    runner.train()
    assert runner.iter == 8
    assert first.outputs['distill.loss_uskd'] == pytest.approx(
        float(first.expected), rel=1e-4, abs=1e-6)
    # the official intermediate: the third stage, 16 channels of 8x8 here
    assert seen['feat'] == (8, 16, 8, 8)
    model = runner.model
    fc = model.distill_losses['uskd'].fc
    assert (fc.in_features, fc.out_features) == (16, 8)
    assert all(id(p) in keep.optimised for p in fc.parameters())

    ckpt = _load(tmp_path / 'run' / 'epoch_2.pth')
    assert sorted(ckpt['distill_state']) == [
        'losses.uskd.fc.bias', 'losses.uskd.fc.weight']
    saved = {k.split('.')[-1]: v for k, v in ckpt['distill_state'].items()}
    for key, value in fc.state_dict().items():
        assert torch.equal(saved[key], value)
        assert not torch.equal(value, seen['fc'][key])  # trained
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        plain = MODELS.build(Config.fromfile(STUDENT).model)
    result = plain.load_state_dict(ckpt['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    # the KD doctor's row of the USKD term
    from mmkd.analysis import diagnose
    batch = next(iter(runner.train_dataloader))
    rows = diagnose(model, batch).losses
    assert [(r.name, r.type) for r in rows] == [('uskd', 'USKDLoss')]
    row = rows[0]
    assert row.student_spec == '(backbone.layer3:output, head.fc:output)'
    assert row.teacher_spec == 'head.fc:output'
    student_params = [p for p in model.module.parameters()
                      if p.requires_grad]
    assert row.reached == row.shared == len(student_params)
    assert row.grad_norm > 0 and row.weight == 1.0
    model.train()  # BatchNorm on the batch, as the doctor measures
    with torch.no_grad():
        data = model.module.data_preprocessor(batch, True)
        direct = model.loss(data['inputs'], data['data_samples'])
    assert row.value == pytest.approx(
        float(direct['distill.loss_uskd']), rel=1e-5)

    # --resume from epoch 1 restores the fc and continues exactly
    cfg = _uskd_cfg(tmp_path, 'resumed')
    cfg.resume, cfg.load_from = True, str(tmp_path / 'run' / 'epoch_1.pth')
    resumed, keep = build_runner(cfg), KeepFc()
    resumed.register_hook(keep)
    resumed.train()
    epoch1 = _load(tmp_path / 'run' / 'epoch_1.pth')['distill_state']
    for key, value in keep.start.items():
        assert torch.equal(value, epoch1[f'losses.uskd.fc.{key}'])
    again = _load(tmp_path / 'resumed' / 'epoch_2.pth')
    for part in ('state_dict', 'distill_state'):
        for key, value in ckpt[part].items():
            assert torch.allclose(again[part][key].float(), value.float(),
                                  rtol=0, atol=1e-6), key


def test_uskd_two_processes(cls_data, tmp_path):
    """2 CPU processes (torchrun, gloo): DDP holds the fc, broadcasts rank
    0's (the ranks start from different seeds) and keeps it equal."""
    cfg = tmp_path / 'uskd_ddp.py'
    cfg.write_text(f"""
_base_ = [{STUDENT!r}, 'mmkd::distill/cls_uskd.py']
custom_imports = dict(imports=['uskd_ddp_hooks'], allow_failed_imports=False)
custom_hooks = [dict(type='DumpUSKDFc')]
randomness = dict(seed=0, diff_rank_seed=True)
train_cfg = dict(max_epochs=1, val_interval=100)
train_dataloader = dict(batch_size=4, sampler=dict(shuffle=False))
default_hooks = dict(logger=dict(interval=1))
env_cfg = dict(dist_cfg=dict(timeout=60))
""")
    work = tmp_path / 'ddp'
    code, log = train(str(cfg), work)
    assert code == 0, log[-4000:]
    assert 'distill.loss_uskd' in log and 'diagnosis failed' not in log
    facts = [json.loads((work / f'uskd_rank{r}.json').read_text())
             for r in range(2)]
    for f in facts:
        assert f['world_size'] == 2 and f['wrapped'] and f['optimised']
        assert not f['find_unused']
        assert f['end'] != f['start']
    assert facts[0]['start'] == facts[1]['start']
    assert facts[0]['end'] == facts[1]['end']
    ckpt = _load(work / 'epoch_1.pth')
    assert sorted(ckpt['distill_state']) == [
        'losses.uskd.fc.bias', 'losses.uskd.fc.weight']
    assert not any(k.startswith(('module.', 'distill')) for k in
                   ckpt['state_dict'])


def test_uskd_needs_its_channels_and_records():
    with pytest.raises(ValueError, match='student_channels'):
        USKDLoss()
    loss = USKDLoss(4, 3)
    with pytest.raises(ValueError, match='intermediate feature, logits'):
        loss(torch.zeros(2, 3), None, gt_labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='shape'):
        loss((torch.zeros(2, 4), torch.zeros(2, 3)), torch.zeros(2, 5),
             gt_labels=torch.tensor([0, 1]))


def test_zoo_configs(cls_data):
    uskd = load_config(osp.join(
        REPO, 'configs/zoo/resnet18_cifar_student_quarter_uskd.py'), 'train')
    plain = load_config(osp.join(
        REPO, 'configs/zoo/resnet18_cifar_student_quarter.py'), 'train')
    assert uskd.model == plain.model and uskd.train_cfg == plain.train_cfg
    assert uskd.distill.self_distill and 'teacher' not in uskd.distill
    assert uskd.distill.losses.uskd.to_dict() == dict(
        _scope_='mmkd', type='USKDLoss', alpha=1.0, beta=0.1, mu=0.005,
        student=['backbone.layer3', 'head.fc'], teacher='head.fc')
    nkd = load_config(osp.join(
        REPO, 'configs/zoo/resnet18_cifar_student_quarter_nkd.py'), 'train')
    assert nkd.model == plain.model
    assert nkd.distill.teacher.checkpoint == \
        'work_dirs/zoo/cls_kd/teacher/epoch_15.pth'
    assert nkd.distill.losses.nkd.to_dict() == dict(
        _scope_='mmkd', type='NKDLoss', temp=1.0, gamma=1.5, loss_weight=1.0,
        student='head.fc', teacher='head.fc')

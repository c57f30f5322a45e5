"""PS-KD (progressive self-knowledge distillation) on a real mmpretrain
ImageClassifier: the loss against the official soft-target cross entropy,
its memory of past predictions, the alpha_t ramp, the Runner's checkpoints
and --resume, DDP, and the KD doctor's row."""
import copy
import os
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO
from mmkd.datasets import generate_mini_cls
from mmkd.engine import LinearRampWeight
from mmkd.models import PredictionMemory, PSKDLoss
from mmkd.models.teacher import load_config

pytest.importorskip('mmpretrain')
sys.path.insert(0, osp.join(REPO, 'tools'))
from mmpretrain.structures import DataSample  # noqa: E402
from test_ddp import load, train  # noqa: E402
from train import build_runner  # noqa: E402

STUDENT = osp.join(REPO, 'configs/mini/cls/resnet18_cifar_student.py')
RECIPE = 'mmkd::distill/cls_pskd.py'
ZOO = osp.join(REPO, 'configs/zoo/resnet18_cifar_student_quarter.py')
ZOO_PSKD = osp.join(REPO, 'configs/zoo/resnet18_cifar_student_quarter_pskd.py')
NUM_TRAIN, C = 32, 8


@pytest.fixture(scope='module')
def cls_data(mini_data):
    return generate_mini_cls(osp.join(mini_data, 'cls'), num_train=NUM_TRAIN,
                             num_val=16)


def _write_cfg(work_dir, extra: str = '') -> str:
    path = osp.join(str(work_dir), 'pskd.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{STUDENT!r}, {RECIPE!r}]\n{extra}')
    return path


def _cfg(work_dir, epochs: int = 2, plain_batches: bool = False) -> Config:
    """The PS-KD recipe on the mini student, 32 images in batches of 8."""
    work_dir = str(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    cfg = load_config(_write_cfg(work_dir), 'train')
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    cfg.train_cfg.update(max_epochs=epochs, val_interval=100)
    cfg.train_dataloader.batch_size = 8
    if plain_batches:  # no augmentation, no shuffling: batch i = images 8i..
        cfg.train_dataloader.dataset.pipeline = \
            cfg.val_dataloader.dataset.pipeline
        cfg.train_dataloader.sampler.shuffle = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                        max_keep_ckpts=-1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    return cfg


def _set_up(tmp_path):
    """A set-up PS-KD DistillModel (Runner-built) and its first batch."""
    runner = build_runner(_cfg(tmp_path / 'work', plain_batches=True))
    batch = next(iter(runner.train_dataloader))
    runner.model.setup(batch)
    return runner, runner.model, batch


def _samples(labels, indices):
    return [DataSample(metainfo=dict(sample_idx=i)).set_gt_label(y)
            for y, i in zip(labels, indices)]


def _official(logits, labels, previous, alpha):
    """The official loss (lgcnsai/PS-KD-Pytorch: Custom_CrossEntropy_PSKD on
    (1 - alpha_t) * one-hot + alpha_t * all_predictions[idx])."""
    target = (1 - alpha) * F.one_hot(labels, C).to(logits) + \
        alpha * previous
    return (-target * F.log_softmax(logits, 1)).mean(0).sum()


# ------------------------------------------------------------- the loss
def test_total_loss_equals_official_soft_target_ce(cls_data, tmp_path):
    """Student CE + PSKDLoss on a real ImageClassifier equals the official
    soft-target cross entropy, in value and in every parameter gradient;
    unseen samples read their one-hot label."""
    _, model, batch = _set_up(tmp_path)
    model.train()
    data = model.module.data_preprocessor(batch, True)
    samples = data['data_samples']
    labels = torch.cat([d.gt_label for d in samples])
    indices = torch.tensor([d.metainfo['sample_idx'] for d in samples])
    assert indices.tolist() == list(range(8))
    assert model.distill_losses['pskd'].memory.predictions.shape == (0, 0)
    # the probe of set-up wrote nothing; now 6 of the 8 samples were seen
    memory = model.distill_losses['pskd'].memory
    g = torch.Generator().manual_seed(0)
    past = torch.randn(8, C, generator=g).softmax(1)
    memory.write(indices[:6], past[:6])
    previous = torch.cat([past[:6], F.one_hot(labels[6:], C).float()])
    model.loss_factors['pskd'] = 0.25  # alpha_t = 0.8 * 0.25
    params = [p for p in model.module.parameters() if p.requires_grad]

    student = copy.deepcopy(model.module)  # BN statistics untouched
    logits = student(data['inputs'], mode='tensor')
    official = _official(logits, labels, previous, 0.8 * 0.25)
    expected = torch.autograd.grad(official, list(student.parameters()))

    losses = model.loss(data['inputs'], samples)
    assert set(losses) == {'loss_student', 'distill.loss_pskd'}
    total = losses['loss_student'] + losses['distill.loss_pskd']
    grads = torch.autograd.grad(total, params)
    assert float(total) == pytest.approx(float(official), rel=1e-6)
    assert float(losses['distill.loss_pskd']) != 0
    for g_total, g_official in zip(grads, expected):
        # float32 rounding of two graphs: ~1e-6 of the largest entry
        error = (g_total - g_official).abs().max()
        assert error <= 1e-5 * g_official.abs().max()
    # this training forward wrote its softmax for the 8 samples
    assert torch.allclose(memory.predictions,
                          logits.detach().softmax(1), atol=1e-6)
    PSKDLoss.check_student(model.module)  # a plain CE head passes


def test_memory_written_per_index_and_read_at_next_visit():
    loss = PSKDLoss(loss_weight=0.8).train()
    z1 = torch.randn(3, C, requires_grad=True)
    first = loss(z1, None, _samples([1, 2, 3], [5, 0, 9]))
    assert float(first) == 0  # nothing seen: the target is the label
    mem = loss.memory.predictions
    assert mem.shape == (10, C)  # grown to the largest index
    assert torch.allclose(mem[[5, 0, 9]], z1.detach().softmax(1))
    assert mem[[1, 2, 3, 4, 6, 7, 8]].abs().sum() == 0

    z2 = torch.randn(3, C, requires_grad=True)
    second = loss(z2, None, _samples([2, 4, 6], [0, 7, 12]))
    prev = torch.stack([z1.detach().softmax(1)[1],
                        F.one_hot(torch.tensor(4), C).float(),
                        F.one_hot(torch.tensor(6), C).float()])
    onehot = F.one_hot(torch.tensor([2, 4, 6]), C).float()
    expected = 0.8 * (-(prev - onehot) * F.log_softmax(z2, 1)).sum(1).mean()
    assert float(second) == pytest.approx(float(expected), rel=1e-6)
    assert loss.memory.predictions.shape == (13, C)
    assert torch.allclose(loss.memory.predictions[0],
                          z2.detach().softmax(1)[0])
    # gradient: alpha (y - p_prev) / B on the logits (the CE is linear)
    second.backward()
    assert torch.allclose(z2.grad, 0.8 * (onehot - prev) / 3, atol=1e-7)

    # no writes in eval mode or without gradients (probes, doctors)
    before = loss.memory.predictions.clone()
    with torch.no_grad():
        loss(torch.randn(2, C), None, _samples([0, 1], [1, 2]))
    loss.eval()(torch.randn(2, C), None, _samples([0, 1], [1, 2]))
    assert torch.equal(loss.memory.predictions, before)


def test_memory_keeps_last_of_duplicates_and_loads_any_size():
    memory = PredictionMemory()
    p = torch.rand(4, C).softmax(1)
    memory.write(torch.tensor([3, 1, 3, 2]), p)
    assert torch.equal(memory.predictions[3], p[2])  # the last one wins
    nan = torch.full((1, C), float('nan'))
    memory.write(torch.tensor([0]), nan)  # not finite: not stored
    assert memory.predictions[0].abs().sum() == 0
    fresh = PredictionMemory()
    fresh.load_state_dict(memory.state_dict())  # a (0, 0) memory takes it
    assert torch.equal(fresh.predictions, memory.predictions)
    with pytest.raises(ValueError, match='holds 8 classes'):
        memory.write(torch.tensor([0]), torch.rand(1, 5))


def test_errors_name_what_is_missing(cls_data):
    loss = PSKDLoss()
    logits = torch.randn(2, C)
    with pytest.raises(ValueError, match='no teacher spec'):
        loss(logits, logits, _samples([0, 1], [0, 1]))
    with pytest.raises(ValueError, match='needs the data samples'):
        loss(logits, None)
    no_idx = [DataSample().set_gt_label(0), DataSample().set_gt_label(1)]
    with pytest.raises(KeyError, match='sample_idx'):
        loss(logits, None, no_idx)
    cfg = Config.fromfile(STUDENT).model
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for head_loss, match in (
                (dict(type='LabelSmoothLoss', label_smooth_val=0.1),
                 'it is LabelSmoothLoss'),
                (dict(type='CrossEntropyLoss', loss_weight=2.0),
                 'loss_weight=2.0')):
            bad = copy.deepcopy(cfg)
            bad.head.loss = head_loss
            with pytest.raises(ValueError, match=match):
                PSKDLoss.check_student(MODELS.build(bad))


def test_alpha_ramp_is_the_official_schedule():
    ramp = LinearRampWeight()
    alpha_T, T = 0.8, 300  # the official defaults
    for epoch in (0, 1, 149, 299):
        assert alpha_T * ramp.factor(epoch, T) == pytest.approx(
            max(0, alpha_T * ((epoch + 1) / T)))  # main.py's alpha_t
    assert ramp.factor(0, 2) == 0.5 and ramp.factor(1, 2) == 1.0


# ---------------------------------------------------- through the Runner
class EpochLog(Hook):
    """The factor of every epoch and the memory after every epoch."""
    priority = 'LOWEST'

    def __init__(self):
        self.factors, self.memories = [], []

    def before_train_epoch(self, runner):
        self.factors.append(runner.model.loss_factors['pskd'])

    def after_train_epoch(self, runner):
        self.memories.append(
            runner.model.distill_losses['pskd'].memory.predictions.clone())


class StopAfterEpoch1(Hook):
    priority = 'LOWEST'  # after the CheckpointHook saved epoch_1.pth

    def after_train_epoch(self, runner):
        raise KeyboardInterrupt


def test_runner_checkpoint_and_exact_resume(cls_data, tmp_path):
    """Two epochs through the Runner: alpha_t 0.4 then 0.8; the checkpoint
    loads into the plain student with no missing or unexpected keys and
    holds the memory (every sample's softmax) under distill_state; 1 epoch
    + --resume gives the same weights and memory as 2 epochs."""
    full = build_runner(_cfg(tmp_path / 'full'))
    log = EpochLog()
    full.register_hook(log)
    full.train()
    assert log.factors == [0.5, 1.0]  # x loss_weight 0.8: 0.4, 0.8
    assert full.message_hub.get_scalar('train/distill.w_pskd').current() \
        == 1.0
    ckpt = load(tmp_path / 'full' / 'epoch_2.pth')
    memory = ckpt['distill_state']['losses.pskd.memory.predictions']
    assert memory.shape == (NUM_TRAIN, C)
    assert torch.allclose(memory.sum(1), torch.ones(NUM_TRAIN))
    assert torch.equal(memory, log.memories[-1])
    assert not torch.equal(log.memories[0], log.memories[1])
    assert ckpt['distill_factors'] == dict(pskd=1.0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        plain = MODELS.build(Config.fromfile(STUDENT).model)
    result = plain.load_state_dict(ckpt['state_dict'], strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []

    part = build_runner(_cfg(tmp_path / 'part'))
    part.register_hook(StopAfterEpoch1())
    with pytest.raises(KeyboardInterrupt):
        part.train()
    cfg = _cfg(tmp_path / 'part')
    cfg.update(resume=True,
               load_from=str(tmp_path / 'part' / 'epoch_1.pth'))
    resumed = build_runner(cfg)
    resumed_log = EpochLog()
    resumed.register_hook(resumed_log)
    resumed.train()
    assert resumed_log.factors == [1.0]
    for (k, a), b in zip(full.model.state_dict().items(),
                         resumed.model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k
    assert torch.allclose(
        resumed.model.distill_losses['pskd'].memory.predictions, memory,
        atol=1e-6)


def test_zoo_config_is_the_zoo_student_plus_the_recipe(cls_data):
    plain, pskd = load_config(ZOO, 'train'), load_config(ZOO_PSKD, 'train')
    assert pskd.runner_type == 'mmkd.DistillRunner'
    assert pskd.distill.self_distill and 'teacher' not in pskd.distill
    def own(cfg):  # without the `_scope_` that mmkd:: configs get
        return {k: v for k, v in cfg.items() if k != '_scope_'}

    assert own(pskd.distill.losses.pskd) == dict(
        type='PSKDLoss', student='head.fc', loss_weight=0.8)
    assert [own(s) for s in pskd.distill.schedules] == [
        dict(type='LinearRampWeight', losses=['pskd'])]
    for key in plain:
        assert pskd[key] == plain[key], key
    assert set(pskd) - set(plain) == {'runner_type', 'distill'}


# ------------------------------------------------------------ KD doctor
def test_kd_doctor_reads_the_pskd_term(cls_data, tmp_path):
    from mmkd.analysis import diagnose
    _, model, batch = _set_up(tmp_path)
    memory = model.distill_losses['pskd'].memory
    past = torch.randn(8, C, generator=torch.Generator().manual_seed(1))
    memory.write(torch.arange(8), past.softmax(1))
    saved = memory.predictions.clone()
    model.loss_factors['pskd'] = 0.5
    diagnosis = diagnose(model, batch)
    (row, ) = diagnosis.losses
    data = model.module.data_preprocessor(batch, True)
    labels = torch.cat([d.gt_label for d in data['data_samples']])
    student = copy.deepcopy(model.module).train()
    with torch.no_grad():
        logits = student(data['inputs'], mode='tensor')
    onehot = F.one_hot(labels, C).float()
    expected = 0.8 * 0.5 * (-(past.softmax(1) - onehot) *
                            F.log_softmax(logits, 1)).sum(1).mean()
    assert (row.name, row.type, row.weight, row.factor) == (
        'pskd', 'PSKDLoss', 0.8, 0.5)
    assert row.value == pytest.approx(float(expected), rel=1e-5)
    assert row.reached > 0 and row.grad_norm > 0 and row.student_grad_path
    assert row.teacher is None and row.teacher_spec == 'None'
    assert row.student.shape == (8, C)
    assert diagnosis.teacher_training == []
    assert torch.equal(memory.predictions, saved)  # ran on a copy


# ------------------------------------------------------------------ DDP
def test_ddp_memory_is_the_same_on_both_ranks(cls_data, tmp_path):
    """torchrun, 2 CPU processes: each rank trains on 16 of the 32 images,
    and both hold the softmax of all 32."""
    work = tmp_path / 'ddp'
    work.mkdir()
    cfg = _write_cfg(work, '\n'.join([
        "custom_imports = dict(imports=['pskd_ddp_hooks'], "
        'allow_failed_imports=False)',
        "custom_hooks = [dict(type='DumpPSKDMemory')]",
        'train_dataloader = dict(batch_size=4)',
        'train_cfg = dict(max_epochs=1, val_interval=100)',
        'default_hooks = dict(checkpoint=dict(interval=1))',
        'env_cfg = dict(dist_cfg=dict(timeout=60))',
        'distill = dict(diagnose=False)', '']))
    code, out = train(cfg, work / 'work', 2)
    assert code == 0, out[-3000:]
    ranks = [load(work / 'work' / f'memory_rank{r}.pt') for r in (0, 1)]
    assert sorted(ranks[0]['seen'] + ranks[1]['seen']) == list(
        range(NUM_TRAIN))
    memory = ranks[0]['memory']
    assert torch.equal(memory, ranks[1]['memory'])
    assert memory.shape == (NUM_TRAIN, C)
    assert torch.allclose(memory.sum(1), torch.ones(NUM_TRAIN))
    saved = load(work / 'work' / 'epoch_1.pth')['distill_state']
    assert torch.equal(saved['losses.pskd.memory.predictions'], memory)

"""The KD doctor (issue 12): its warnings with the numbers behind them, the
figure, the start-of-run diagnosis that DistillRunner logs, and that this
diagnosis leaves training bit-identical. The toy classifier of
test_distill_runner for most; one run of the tool on RTMDet PKD."""
import copy
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope

from conftest import REPO
from mmkd import KDDoctorHook
from mmkd.analysis.kd_doctor import average, diagnose, find_warnings
from mmkd.registry import MODELS
from test_distill_runner import ToyDataset, build, make_cfg, train_teacher
from test_reliability import FlipToyDataset, Snapshot  # noqa: F401

DET = osp.join(REPO, 'configs/mini/det')


@MODELS.register_module(force=True)
class RandomMaskMSE(nn.Module):
    """MSE on a random half of the elements: draws from torch's generator
    in every call, as MGD's masks do."""

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, student, teacher):
        mask = (torch.rand_like(student) < 0.5).float()
        return F.mse_loss(student * mask, teacher * mask) * self.loss_weight


def toy_cfg(*args, **kwargs) -> dict:
    """test_distill_runner's toy config, without checkpoints (saving one
    formats the config, which costs more than the training)."""
    cfg = make_cfg(*args, **kwargs)
    cfg['default_hooks']['checkpoint'] = None
    return cfg


def log_text(runner) -> str:
    files = glob.glob(osp.join(runner.work_dir, '*', '*.log'))
    return ''.join(open(f).read() for f in files)


def doctor_hooks(runner) -> list:
    return [h for h in runner.hooks if isinstance(h, KDDoctorHook)]


# --------------------------------------------------- 1. does not change runs
def test_start_of_run_diagnosis_keeps_training_bit_identical(tmp_path):
    """Random flips (numpy's and Python's generators), a loss that draws
    from torch's generator, BatchNorm in student and connector: the weights,
    buffers, connectors and optimizer state after 4 iterations are equal
    with and without the start-of-run diagnosis; ``diagnose=False``
    registers no doctor and logs nothing of it."""
    ckpt = train_teacher(tmp_path)
    losses = dict(feat=dict(type='RandomMaskMSE', student='backbone',
                            teacher='backbone',
                            connector=dict(type='ConvConnector', norm=True)))
    snaps = {}
    for diagnose_ in (True, False):
        cfg = toy_cfg(tmp_path / str(diagnose_), ckpt, losses=losses,
                       epochs=1, diagnose=diagnose_)
        cfg['train_dataloader']['dataset'] = dict(type='FlipToyDataset')
        runner = build(cfg)
        assert len(doctor_hooks(runner)) == int(diagnose_)
        snaps[diagnose_] = snap = Snapshot()
        runner.register_hook(snap)
        runner.train()
        if diagnose_:
            assert doctor_hooks(runner)[0].diagnosis is not None
            assert 'mmkd doctor (one batch, before training' in \
                log_text(runner)
        else:
            assert 'mmkd doctor' not in log_text(runner)
    on, off = snaps[True], snaps[False]
    assert any('running_mean' in k for k in on.state)
    assert any('running_mean' in k for k in on.distill)
    for k, v in off.state.items():
        assert torch.equal(on.state[k], v), k
    for k, v in off.distill.items():
        assert torch.equal(on.distill[k], v), k
    for i, state in off.optim.items():
        for k, v in state.items():
            assert torch.equal(on.optim[i][k], v), (i, k)


def test_diagnosis_measures_what_training_computes(tmp_path):
    """The doctor's loss values are the ones the first training step logs
    (same batch: no shuffling)."""
    ckpt = train_teacher(tmp_path)
    cfg = toy_cfg(tmp_path, ckpt, epochs=1)
    cfg['train_dataloader']['sampler']['shuffle'] = False
    runner = build(cfg)
    logged = []

    class Log(Snapshot):
        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            logged.append({k: float(v) for k, v in outputs.items()})

    runner.register_hook(Log())
    runner.train()
    diagnosis = doctor_hooks(runner)[0].diagnosis
    assert diagnosis.task_loss == pytest.approx(logged[0]['loss_cls'],
                                                rel=1e-6)
    assert diagnosis.losses[0].value == pytest.approx(
        logged[0]['distill.loss_feat'], rel=1e-6)


# ------------------------------------------------------------- 2. warnings
def test_identical_teacher_gives_a_zero_loss_warning(tmp_path):
    """The teacher is the student with the same weights: the loss is 0
    from the start, and the start-of-run log says so."""
    ckpt = train_teacher(tmp_path, width=4)
    losses = dict(same=dict(type='MSELoss', student='backbone.0',
                            teacher='backbone.0'))
    cfg = toy_cfg(tmp_path, ckpt, losses=losses, epochs=1)
    cfg['distill']['teacher']['config'] = dict(
        model=dict(type='ToyNet', width=4))
    cfg['load_from'] = ckpt  # the student starts as the teacher
    runner = build(cfg)
    runner.train()
    text = log_text(runner)
    assert ('mmkd doctor: distill.loss_same is 0 at the start (0 of the '
            "task loss): the student's and the teacher's tensors are "
            'identical (is the teacher the student, with the same weights?)'
            ) in text
    assert doctor_hooks(runner)[0].diagnosis.losses[0].identical


@pytest.fixture
def trained_toy(tmp_path):
    """A toy distillation runner after 1 epoch (the head has moved, so the
    task loss reaches the backbone) and its first batch."""
    ckpt = train_teacher(tmp_path)
    runner = build(toy_cfg(tmp_path, ckpt, epochs=1, diagnose=False))
    runner.train()
    runner.model.distill_losses['feat'].loss_weight = 1000.0  # absurd
    return runner, runner._probe_batch()


def test_gradient_ratio_warning_and_its_suggested_weight(trained_toy):
    runner, batch = trained_toy
    model = runner.model
    before = copy.deepcopy(model.module.state_dict())
    grads = [p.grad for p in model.parameters()]
    diagnosis = diagnose(model, batch)
    d = diagnosis.losses[0]
    assert d.grad_ratio > 10 and -1 <= d.cosine <= 1
    warning = next(w for w in find_warnings(diagnosis)
                   if w.startswith('distill.loss_feat: gradient'))
    assert f'gradient {d.grad_ratio:.0f}x the task gradient' in warning
    assert "the student will follow the teacher's features before learning" \
        in warning
    suggested = d.suggested_weight()
    assert (f'Lower loss_weight from 1000 to about {suggested:.2g} (1000 x '
            f'{d.task_grad_norm:.3g} / {d.grad_norm:.3g}') in warning
    assert 'x task grad' in diagnosis.table()
    # the suggested weight brings the two gradients to the same norm
    model.distill_losses['feat'].loss_weight = suggested
    assert diagnose(model, batch).losses[0].grad_ratio == pytest.approx(1.)
    for k, v in before.items():  # nothing trained, BN statistics put back
        assert torch.equal(model.module.state_dict()[k], v), k
    assert [p.grad for p in model.parameters()] == grads  # none written


def test_teacher_in_train_mode_and_no_gradient_path(trained_toy):
    runner, batch = trained_toy
    model = runner.model
    model.teacher.train()
    warnings = find_warnings(diagnose(model, batch, train_mode=False))
    assert any(w.startswith('the teacher is in train mode (') and
               'BatchNorm statistics drift' in w for w in warnings)
    model.teacher.eval()
    # a student part frozen: its record has no gradient path
    model.module.backbone.requires_grad_(False)
    try:
        warnings = find_warnings(diagnose(model, batch))
    finally:
        model.module.backbone.requires_grad_(True)
    assert ('distill.loss_feat: the student tensor at backbone:output does '
            'not require grad (recorded in a frozen part, under no_grad, or '
            'detached); this loss cannot train the student (0 student '
            'parameters reached).') in warnings


def test_teacher_outlier_position_warning(trained_toy):
    """One position of the teacher's map far above the others (as the
    zoo's RTMDet teacher has at a border of its first neck level): named,
    with its ratio to the median position; kept when averaging batches."""
    runner, batch = trained_toy
    model = runner.model
    clean = diagnose(model, batch)
    assert clean.losses[0].teacher.peak < 20
    assert not any('outlier activation' in w for w in find_warnings(clean))

    def spike(module, args, out):
        out = out.clone()
        out[1, :, 2, 3] += 1000.0
        return out

    handle = model.teacher.backbone.register_forward_hook(
        spike, prepend=True)
    try:
        spiked = diagnose(model, batch)
    finally:
        handle.remove()
    t = spiked.losses[0].teacher
    shape = list(t.shape)
    assert t.peak_at == (1, 2, 3) and t.peak > 1000
    assert t.peak_image < 5  # the rest of sample 1 is as the others
    warning = next(w for w in find_warnings(spiked)
                   if 'outlier activation' in w)
    assert warning.startswith(
        f"distill.loss_feat: one position of the teacher's backbone:output "
        f'{shape} (sample 1 of its batch, row 2, column 3) is '
        f'{t.peak:.0f}x the median position')
    # averaged over batches: the means of the first, the highest peak
    both = average([clean, spiked])
    assert both.losses[0].teacher.peak == t.peak
    assert both.losses[0].teacher.mean == clean.losses[0].teacher.mean
    assert any('outlier activation' in w for w in find_warnings(both))


def test_teacher_sample_out_of_scale_warning(trained_toy):
    """One sample's whole teacher map far above the others' (as the zoo's
    RTMDet teachers have on a few images at their deeper neck levels): named
    as the image's scale, not as a position, with both ratios."""
    runner, batch = trained_toy
    model = runner.model

    def blow_up(module, args, out):
        out = out.clone()
        out[1] = out[1] * 300.0
        return out

    handle = model.teacher.backbone.register_forward_hook(
        blow_up, prepend=True)
    try:
        diagnosis = diagnose(model, batch)
    finally:
        handle.remove()
    t = diagnosis.losses[0].teacher
    assert t.peak_at[0] == 1 and t.peak > 20
    assert t.peak_image > 100
    warnings = find_warnings(diagnosis)
    assert not any('one position of' in w for w in warnings)
    warning = next(w for w in warnings if 'out of scale' in w)
    assert warning.startswith(
        "distill.loss_feat: the whole map of the teacher's backbone:output "
        f'{list(t.shape)} (sample 1 of its batch) is out of scale: its '
        f"median position is {t.peak_image:.0f}x the batch's median "
        f'position, its highest (row {t.peak_at[1]}, column {t.peak_at[2]})'
        f' {t.peak:.0f}x')
    assert 'blow up on that image' in warning


@ROOT_DATASETS.register_module(force=True)
class BlowUpToyDataset(ToyDataset):
    """ToyDataset whose sample 13 is 1000x the others: past the first batch
    (4 samples) that the start-of-run diagnosis trains on."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        if i == 13:
            item = dict(item, inputs=item['inputs'] * 1000.0)
        return item


def test_start_of_run_scan_finds_an_image_past_the_first_batch(tmp_path):
    """The teacher alone, on the first 16 training samples, finds sample 13
    out of scale (the first batch alone does not); with
    ``diagnose=dict(scan_samples=0)`` the warning is not there. The scan
    leaves training bit-identical (the RNG states are put back)."""
    ckpt = train_teacher(tmp_path)
    logs, snaps = {}, {}
    for scan in (16, 0):
        cfg = toy_cfg(tmp_path / str(scan), ckpt, epochs=1,
                      diagnose=dict(scan_samples=scan))
        cfg['train_dataloader']['dataset'] = dict(type='BlowUpToyDataset')
        runner = build(cfg)
        snaps[scan] = snap = Snapshot()
        runner.register_hook(snap)
        runner.train()
        logs[scan] = log_text(runner)
        teacher = doctor_hooks(runner)[0].diagnosis.losses[0].teacher
        if scan:
            assert teacher.peak_at[0] == 13
            assert teacher.peak_where == 'of the first 16 training samples'
            assert teacher.peak_image > 100
    assert ('the teacher alone on the first 16 training samples for '
            'outliers') in logs[16]
    assert ("distill.loss_feat: the whole map of the teacher's "
            'backbone:output [4, 8, 8, 8] (sample 13 of the first 16 '
            'training samples) is out of scale') in logs[16]
    assert 'out of scale' not in logs[0]
    assert 'training samples for outliers' not in logs[0]
    for k, v in snaps[0].state.items():
        assert torch.equal(snaps[16].state[k], v), k


# ------------------------------------------------------- 3. the tool, RTMDet
@pytest.fixture(scope='module')
def untrained_rtmdet_teacher(mini_data, tmp_path_factory):
    """An RTMDet teacher checkpoint straight from init_weights."""
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(DET, 'rtmdet_teacher.py'))
    torch.manual_seed(0)
    model = ROOT_MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('rtmdet') / 'untrained.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def test_kd_doctor_tool_on_rtmdet_pkd(untrained_rtmdet_teacher, tmp_path):
    """An absurd PKD weight: the gradient-ratio warning with its number and
    suggestion, the figure, the untrained teacher flagged, and nothing
    written to the config's work dir."""
    kd_cfg = tmp_path / 'kd.py'
    work_dir = tmp_path / 'work_dir'
    kd_cfg.write_text(
        f"_base_ = [{osp.join(DET, 'rtmdet_student.py')!r}, "
        "'mmkd::distill/rtmdet_pkd_fpn.py']\n"
        f"distill = dict(teacher=dict(config="
        f"{osp.join(DET, 'rtmdet_teacher.py')!r}, "
        f"checkpoint={untrained_rtmdet_teacher!r}))\n"
        f"work_dir = {str(work_dir)!r}\n")
    out = tmp_path / 'doctor'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/analysis/kd_doctor.py'),
         str(kd_cfg), '--iters', '2', '--out-dir', str(out),
         '--eval-images', '2', '--cfg-options',
         'distill.losses.pkd_fpn2.loss_weight=10000',
         'train_dataloader.batch_size=2'],
        capture_output=True, text=True, cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert '| distill.loss_pkd_fpn2 | PKDLoss | 10000 ' in text
    assert 'x task grad' in text and 'mean/std/dead' in text
    assert 'distill.loss_pkd_fpn2: gradient ' in text
    assert "x the task gradient (norm " in text
    assert 'Lower loss_weight from 10000 to about ' in text
    assert 'on the first 2 val images: teacher 0.0000' in text
    assert 'it looks untrained' in text
    assert f'figure: {out}/kd_doctor.png' in text
    assert osp.getsize(out / 'kd_doctor.png') > 10000
    assert not work_dir.exists()

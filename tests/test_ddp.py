"""Distributed (DDP) training on the CPU (gloo), launched the way users
launch it: ``python -m torch.distributed.run --nproc_per_node=2
tools/train.py CONFIG --launcher pytorch``. The configs are written to a
temp dir; ``ddp_hooks.py`` (next to this file) is imported into the
training processes to report what each rank saw."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO

TESTS = osp.join(REPO, 'tests')
DET = osp.join(REPO, 'configs/mini/det')
TIMEOUT = 240  # s per launch: a hang fails the test instead of blocking CI

# 64 px, no random flip: two runs over the same data order see equal batches
COMMON = f"""
custom_imports = dict(imports=['ddp_hooks'], allow_failed_imports=False)
_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='Pad', size=(64, 64), pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs')
]
train_dataloader = dict(
    batch_size=2, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=_pipeline))
train_cfg = dict(max_epochs=2, val_interval=100)
param_scheduler = []
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=-1, save_last=False))
env_cfg = dict(dist_cfg=dict(timeout=60))
"""


@pytest.fixture
def one_process_group(monkeypatch):
    """The environment torchrun gives a single process; the process group
    that the runner starts is destroyed afterwards."""
    env = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize('zero_term', [True, False])
def test_loss_at_weight_zero_under_ddp(one_process_group, tmp_path,
                                       monkeypatch, zero_term):
    """DDP (gloo, in this process) without find_unused_parameters: once a
    schedule turns the loss off, its connector gets a zero gradient; without
    that term DDP fails."""
    from test_distill_runner import make_cfg, train_teacher

    from mmkd import DistillModel, DistillRunner
    cfg = make_cfg(tmp_path, train_teacher(tmp_path), epochs=2, schedules=[
        dict(type='StopDistillAtEpoch', stop_epoch=1)])
    cfg.update(launcher='pytorch')
    if not zero_term:
        monkeypatch.setattr(DistillModel, '_ddp_zero_term', lambda self: 0.)
    runner = DistillRunner.from_cfg(cfg)
    if not zero_term:
        with pytest.raises(RuntimeError, match='finished reduction'):
            runner.train()
        return
    runner.train()
    model = runner.model
    assert type(model.ddp).__name__ == 'MMDistributedDataParallel'
    assert model.ddp.process_group.size() == 1
    assert not model.ddp.find_unused_parameters
    assert model.loss_factors == dict(feat=0.0)
    assert runner.iter == 8


def test_slurm_launcher_without_gpu(monkeypatch):
    """--launcher slurm on the CPU: rank and size from SLURM_*, the
    variables torch reads are set, gloo instead of the config's nccl."""
    from mmkd.engine.distributed import init_cpu_dist
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT'):
        monkeypatch.setenv(key, '')  # restored after the test
        monkeypatch.delenv(key)
    slurm = dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_LOCALID='0',
                 SLURM_NODELIST='localhost', MASTER_ADDR='127.0.0.1')
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    try:
        init_cpu_dist('slurm', backend='nccl', port=port, timeout=30)
        assert torch.distributed.get_backend() == 'gloo'
        assert torch.distributed.get_world_size() == 1
        assert (os.environ['RANK'], os.environ['WORLD_SIZE'],
                os.environ['LOCAL_RANK']) == ('0', '1', '0')
        assert os.environ['MASTER_PORT'] == str(port)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train(cfg: str, work_dir, nproc: int = 2, *extra) -> tuple:
    """Run tools/train.py as a user does (torchrun for nproc > 1);
    -> (return code, stdout + stderr)."""
    if nproc > 1:
        cmd = [sys.executable, '-m', 'torch.distributed.run',
               f'--nproc_per_node={nproc}', f'--master_port={free_port()}',
               osp.join(REPO, 'tools/train.py'), cfg, '--launcher',
               'pytorch']
    else:
        cmd = [sys.executable, osp.join(REPO, 'tools/train.py'), cfg]
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, TESTS]))
    proc = subprocess.run(
        cmd + ['--work-dir', str(work_dir), *extra], env=env,
        cwd=str(work_dir.parent), capture_output=True, text=True,
        timeout=TIMEOUT)
    return proc.returncode, proc.stdout + proc.stderr


def load(path) -> dict:
    return torch.load(str(path), map_location='cpu', weights_only=True)


def assert_states_close(a: dict, b: dict, **tol) -> None:
    assert set(a) == set(b)
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), **tol), key


@pytest.fixture(scope='module')
def teacher_ckpt(mini_data, tmp_path_factory):
    """A teacher trained by a plain (non-KD) config under torchrun on the
    CPU: 1 epoch, 2 processes x 2 images."""
    work = tmp_path_factory.mktemp('ddp') / 'teacher'
    code, log = train(
        osp.join(DET, 'rtmdet_teacher.py'), work, 2, '--cfg-options',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=100',
        'custom_hooks=[]', 'train_dataloader.batch_size=2',
        'default_hooks.checkpoint.interval=1')
    assert code == 0, log[-4000:]
    ckpt = load(work / 'epoch_1.pth')
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
    return str(work / 'epoch_1.pth')


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def pkd_config(tmp_path, teacher_ckpt) -> str:
    """The mini RTMDet PKD example; distillation off from epoch 2 (its
    connectors then get no gradient); a different seed on each rank, so that
    equal connectors show DDP's broadcast."""
    return write(tmp_path, 'pkd.py', f"""
_base_ = [{osp.join(REPO, 'configs/examples/rtmdet_student_pkd_mini.py')!r}]
{COMMON}
distill = dict(
    teacher=dict(checkpoint={teacher_ckpt!r}),
    schedules=[dict(type='StopDistillAtEpoch', stop_epoch=1)])
custom_hooks = [dict(type='DumpRankFacts')]
randomness = dict(seed=0, diff_rank_seed=True)
""")


def mse_config(tmp_path, teacher_ckpt, extra: str = '') -> str:
    """A deterministic KD set-up whose gradient does not depend on how a
    batch is split: GroupNorm student, mean-reduced MSE on the neck, no GT
    loss (the student's head gets no gradient), SGD."""
    return write(tmp_path, 'mse.py', f"""
_base_ = [{osp.join(DET, 'rtmdet_student.py')!r}]
{COMMON}
runner_type = 'mmkd.DistillRunner'
_gn = dict(type='GN', num_groups=1)
model = dict(backbone=dict(norm_cfg=_gn), neck=dict(norm_cfg=_gn),
             bbox_head=dict(norm_cfg=_gn))
distill = dict(
    teacher=dict(config={osp.join(DET, 'rtmdet_teacher.py')!r},
                 checkpoint={teacher_ckpt!r}),
    student_gt_loss=False,
    losses={{f'fit{{i}}': dict(type='MSELoss', student=f'neck[{{i}}]',
                              teacher=f'neck[{{i}}]') for i in range(3)}})
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
{extra}
""")


def test_pkd_two_processes_and_resume(teacher_ckpt, tmp_path):
    cfg = pkd_config(tmp_path, teacher_ckpt)
    work = tmp_path / 'run'
    code, log = train(cfg, work)
    assert code == 0, log[-4000:]
    assert 'distill.loss_pkd_fpn0' in log
    # the KD doctor ran on every rank at the start, without a deadlock
    assert 'mmkd doctor (one batch, before training' in log
    assert 'diagnosis failed' not in log
    facts = [json.loads((work / f'rank{r}.json').read_text())
             for r in range(2)]
    assert facts[0]['seed'] != facts[1]['seed']
    for f in facts:
        assert f['world_size'] == 2 and f['model'] == 'DistillModel'
        assert f['ddp'] == 'MMDistributedDataParallel'
        assert not f['find_unused_parameters']
        assert f['student_wrapped'] and f['connectors_wrapped']
        assert not f['teacher_wrapped']
        assert not f['teacher_training'] and not f['teacher_requires_grad']
        assert 'train/distill.loss_pkd_fpn0' in f['logged']
        assert f['factors'] == {f'pkd_fpn{i}': 0.0 for i in range(3)}
    # DDP broadcast rank 0's connectors and mmengine its student weights
    for key in ('start_connectors', 'start_student', 'end_connectors'):
        assert facts[0][key] == facts[1][key], key
    assert len(facts[0]['start_connectors']) == 6  # 3 1x1 convs 64 -> 128

    # a plain student checkpoint: it loads into the student config
    ckpt = load(work / 'epoch_2.pth')
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])
    assert sorted(ckpt['distill_state']) == sorted(
        f'connectors.pkd_fpn{i}.layers.0.{p}' for i in range(3)
        for p in ('weight', 'bias'))
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmdet')
    student = MODELS.build(Config.fromfile(
        osp.join(DET, 'rtmdet_student.py')).model)
    result = student.load_state_dict(ckpt['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    # --resume of the 2-process run from epoch 1 continues exactly
    code, log = train(cfg, tmp_path / 'resumed', 2, '--resume',
                      str(work / 'epoch_1.pth'))
    assert code == 0, log[-4000:]
    resumed = load(tmp_path / 'resumed' / 'epoch_2.pth')
    assert_states_close(ckpt['state_dict'], resumed['state_dict'],
                        rtol=0, atol=1e-6)
    assert_states_close(ckpt['distill_state'], resumed['distill_state'],
                        rtol=0, atol=1e-6)


def test_two_processes_equal_one_with_double_batch(teacher_ckpt, tmp_path):
    """2 processes x 2 images and, resumed from their epoch-1 checkpoint,
    1 process x 4 images train the same weights over the same data order
    (rank r reads images r, r + 2, ...)."""
    cfg = mse_config(tmp_path, teacher_ckpt)
    code, log = train(cfg, tmp_path / 'ddp')
    assert code == 0, log[-4000:]
    assert 'parameters no loss reaches get a zero gradient' in log
    code, log = train(cfg, tmp_path / 'single', 1, '--resume',
                      str(tmp_path / 'ddp' / 'epoch_1.pth'), '--cfg-options',
                      'train_dataloader.batch_size=4')
    assert code == 0, log[-4000:]
    ddp = load(tmp_path / 'ddp' / 'epoch_2.pth')
    single = load(tmp_path / 'single' / 'epoch_2.pth')
    start = load(tmp_path / 'ddp' / 'epoch_1.pth')
    moved = [k for k, v in start['state_dict'].items()
             if v.is_floating_point()
             and not torch.equal(v, ddp['state_dict'][k])]
    assert any(k.startswith('backbone.') for k in moved)
    assert not any(k.startswith('bbox_head.') for k in moved)  # no gradient
    assert_states_close(ddp['state_dict'], single['state_dict'],
                        rtol=1e-4, atol=1e-6)
    assert_states_close(ddp['distill_state'], single['distill_state'],
                        rtol=1e-4, atol=1e-6)


def test_nan_on_one_rank_stops_every_rank(teacher_ckpt, tmp_path):
    cfg = mse_config(tmp_path, teacher_ckpt, extra="""
distill['losses']['bad'] = dict(
    type='NaNOnRank', rank=1, at_iter=1, student='neck[0]', teacher='neck[0]')
""")
    work = tmp_path / 'nan'
    code, log = train(cfg, work)  # a hang raises TimeoutExpired
    assert code != 0
    assert 'distill.loss_bad is nan' in log, log[-4000:]  # rank 1
    assert 'NaN/Inf on another rank' in log, log[-4000:]  # rank 0
    saved = load(work / 'last_good_iter_1.pth')  # rank 0 saved it
    assert all(torch.isfinite(v.float()).all()
               for v in saved['state_dict'].values())
    assert not osp.exists(work / 'epoch_1.pth')

"""Faults survived (issue 24): a save cut short or killed leaves the
previous checkpoint and ``last_checkpoint`` as they were and ``--resume``
continues exactly; truncated or corrupted checkpoints are refused before
training, naming the file; a full disk stops the run naming the path and
the free space. On the small classifier of test_distill_runner (fast)."""
import builtins
import errno
import hashlib
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest
import torch
from mmengine.hooks import Hook

from conftest import REPO
from fault_hooks import FaultInSave
from mmkd.engine.atomic_checkpoint import (AtomicCheckpointHook,
                                           CheckpointWriteError)
from mmkd.utils.safe_load import BrokenCheckpointError
from test_distill_runner import build, make_cfg, train_teacher

TESTS = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, osp.join(REPO, 'tools'))
import train as tools_train  # noqa: E402


def iter_cfg(tmp_path, ckpt, iters=4, **distill) -> dict:
    """ToyNet distilled for ``iters`` iterations, a checkpoint every 2,
    only the newest kept (mmengine removes the outdated one)."""
    cfg = make_cfg(tmp_path, ckpt, **distill)
    cfg['train_cfg'] = dict(by_epoch=False, max_iters=iters)
    cfg['default_hooks']['checkpoint'] = dict(
        type='CheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=1)
    return cfg


def sha(path) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def digests(folder) -> dict:
    """The digests of the files in ``folder`` (not its sub-folders nor the
    config each run dumps there, named after the second it started)."""
    if not osp.isdir(folder):
        return {}
    return {f: sha(osp.join(folder, f)) for f in os.listdir(folder)
            if osp.isfile(osp.join(folder, f)) and not f.endswith('.py')}


class Digests(Hook):
    """The digests of the work dir's files after every iteration."""
    priority = 'LOWEST'

    def __init__(self):
        self.after = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.after[runner.iter] = digests(runner.work_dir)


@pytest.fixture
def no_leaks(monkeypatch):
    """The faults patch these; put back after each test."""
    monkeypatch.setattr(builtins, 'open', builtins.open)
    monkeypatch.setattr(shutil, 'disk_usage', shutil.disk_usage)


def run_with_fault(tmp_path, fault: str):
    """4 iterations; the save at iteration 4 meets ``fault``. The run, its
    digests and the error."""
    runner = build(iter_cfg(tmp_path, train_teacher(tmp_path)))
    assert any(type(h) is AtomicCheckpointHook for h in runner.hooks)
    runner.register_hook(FaultInSave(at=4, fault=fault))
    seen = Digests()
    runner.register_hook(seen)
    with pytest.raises(OSError) as info:
        runner.train()
    return runner, seen, info.value


def assert_previous_intact(runner, seen: Digests) -> None:
    """iter_2.pth and last_checkpoint as after iteration 2, nothing of
    iteration 4 (no partial file, no temporary file)."""
    work = runner.work_dir
    files = sorted(f for f in os.listdir(work) if osp.isfile(
        osp.join(work, f)) and not f.endswith('.py'))
    assert files == ['iter_2.pth', 'last_checkpoint']
    for name in files:
        assert sha(osp.join(work, name)) == seen.after[2][name], name
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'iter_2.pth')
    assert torch.load(osp.join(work, 'iter_2.pth'),
                      weights_only=True)['meta']['iter'] == 2


# --------------------------------------------------- 1. atomic checkpoints
def test_save_cut_short_leaves_previous_checkpoint(tmp_path, no_leaks):
    runner, seen, error = run_with_fault(tmp_path, 'eio')
    assert error.errno == errno.EIO
    assert runner.iter == 3  # failed in the save after iteration 4
    assert_previous_intact(runner, seen)


def train(monkeypatch, cfg_path, work_dir, *extra) -> None:
    """tools/train.py in this process, on one thread like the killed one."""
    monkeypatch.setattr(sys, 'argv', [
        'train.py', str(cfg_path), '--work-dir', str(work_dir), *extra])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tools_train.main()
    finally:
        torch.set_num_threads(threads)


def test_kill_while_saving_then_resume_is_exact(tmp_path, monkeypatch):
    """tools/train.py killed (SIGKILL) half-way through writing iter_4.pth,
    where iter_2.pth is the only checkpoint kept; tools/train.py --resume
    continues from iter_2.pth and ends with the same weights, connectors
    and optimizer state as an uninterrupted run."""
    cfg = iter_cfg(tmp_path, train_teacher(tmp_path), iters=6)
    cfg.update(custom_imports=dict(imports=['fault_hooks']),
               randomness=dict(seed=0, deterministic=True))
    cfg.pop('work_dir')
    base = tmp_path / 'cfg.py'
    base.write_text(''.join(f'{k} = {v!r}\n' for k, v in cfg.items()))
    marker = tmp_path / 'saving'
    killed = tmp_path / 'kill_cfg.py'
    killed.write_text(f'_base_ = [{str(base)!r}]\ncustom_hooks = [dict('
                      f"type='FaultInSave', at=4, fault='hang', "
                      f'marker={str(marker)!r})]\n')
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([REPO, TESTS]))
    work, full = tmp_path / 'work', tmp_path / 'full'
    with open(tmp_path / 'killed.log', 'wb') as log:
        proc = subprocess.Popen(
            [sys.executable, osp.join(REPO, 'tools/train.py'), str(killed),
             '--work-dir', str(work)], env=env, cwd=str(tmp_path),
            stdout=log, stderr=subprocess.STDOUT)
        try:
            train(monkeypatch, base, full)  # meanwhile, uninterrupted
            deadline = time.time() + 120
            while not marker.exists() and proc.poll() is None \
                    and time.time() < deadline:
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert marker.exists(), (tmp_path / 'killed.log').read_text()[-3000:]
    assert not (work / 'iter_4.pth').exists()  # only a hidden .tmp is left
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')

    train(monkeypatch, base, work, '--resume')
    ends = [torch.load(d / 'iter_6.pth', weights_only=True)
            for d in (full, work)]
    assert ends[1]['meta']['iter'] == 6
    logs = ''.join(p.read_text() for p in work.glob('*/*.log'))
    assert f'Auto resumed from the latest checkpoint {work}/iter_2.pth' \
        in logs and 'resumed epoch: 0, iter: 2' in logs
    for part in ('state_dict', 'distill_state'):
        assert set(ends[0][part]) == set(ends[1][part]) != set()
        for k, v in ends[0][part].items():
            assert torch.equal(v, ends[1][part][k]), (part, k)
    momenta = [e['optimizer']['state'] for e in ends]
    for i, state in momenta[0].items():
        assert torch.equal(state['momentum_buffer'],
                           momenta[1][i]['momentum_buffer']), i
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_6.pth')
    assert sorted(f for f in os.listdir(work) if 'iter_' in f) == \
        ['iter_6.pth']  # the killed save's .tmp was written over


# ------------------------------------------------------- 2. broken files
def storage_bytes(obj) -> int:
    """The bytes of the distinct tensor storages in ``obj``."""
    storages = {}

    def walk(x):
        if isinstance(x, torch.Tensor):
            s = x.untyped_storage()
            storages[s.data_ptr()] = s.nbytes()
        elif isinstance(x, dict):
            list(map(walk, x.values()))
        elif isinstance(x, (list, tuple)):
            list(map(walk, x))

    walk(obj)
    return sum(storages.values())


def damage(path: str, how: str) -> str:
    """A truncated (60 % of the bytes) or corrupted (one byte of a tensor
    flipped) copy of the checkpoint ``path``."""
    with open(path, 'rb') as f:
        data = bytearray(f.read())
    out = f'{path[:-4]}_{how}.pth'
    if how == 'truncated':
        data = data[:len(data) * 6 // 10]
    else:
        with zipfile.ZipFile(path) as archive:
            entry = [i for i in archive.infolist()
                     if '/data/' in i.filename][0]
        start = entry.header_offset
        start += 30 + int.from_bytes(data[start + 26:start + 28], 'little') \
            + int.from_bytes(data[start + 28:start + 30], 'little')
        data[start + 1] ^= 0xFF
    with open(out, 'wb') as f:
        f.write(data)
    return out


class CountIters(Hook):

    def __init__(self):
        self.iters = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.iters += 1


@pytest.mark.parametrize('how', ['truncated', 'corrupted'])
@pytest.mark.parametrize('role', ['teacher', 'student_init', 'resume',
                                  'load_from'])
def test_broken_checkpoint_refused_before_training(tmp_path, role, how):
    teacher = train_teacher(tmp_path)
    cfg = iter_cfg(tmp_path, teacher)
    work = cfg['work_dir']
    if role in ('resume', 'load_from'):  # a run that saved iter_2.pth
        build(iter_cfg(tmp_path, teacher, iters=2)).train()
        good = osp.join(work, 'iter_2.pth')
    else:
        good = teacher if role == 'teacher' else train_teacher(tmp_path, 4)
    need = storage_bytes(torch.load(good, weights_only=True))
    broken = damage(good, how)
    if role == 'resume':  # in place, where last_checkpoint points
        os.replace(broken, good)
        broken = good
        cfg['resume'] = True
    elif role == 'load_from':
        cfg['load_from'] = broken
    elif role == 'teacher':
        cfg['distill']['teacher']['checkpoint'] = broken
    else:
        cfg['distill']['student_init'] = dict(checkpoint=broken)
    before = digests(work)
    runner = build(cfg)
    count = CountIters()
    runner.register_hook(count)
    with pytest.raises(BrokenCheckpointError) as info:
        runner.train()
    assert count.iters == 0
    message = str(info.value)
    assert f'The {role} checkpoint {broken!r} is not a readable torch ' \
           f'checkpoint: ' in message
    size = osp.getsize(broken)
    if how == 'truncated':  # and what a complete file holds at the least
        assert f'truncated zip archive ({size:,} bytes; the tensors it ' \
               f'lists alone take {need:,} bytes; the last entry it ' \
               'reaches is ' in message
    else:
        assert f'corrupted zip archive ({size:,} bytes): its entry ' \
               in message and 'fails its CRC-32 check' in message
    after = digests(work)
    assert {f: after[f] for f in before} == before  # nothing overwritten
    assert not [f for f in set(after) - set(before)
                if f.endswith(('.pth', '.tmp')) or 'checkpoint' in f]


# --------------------------------------------------------- 3. disk full
@pytest.mark.parametrize('fault', ['enospc', 'nofree'])
def test_disk_full_stops_naming_path_and_free_space(tmp_path, no_leaks,
                                                    fault):
    """ENOSPC from the write, or less free space than the checkpoint
    takes (refused before a byte is written)."""
    runner, seen, error = run_with_fault(tmp_path, fault)
    assert isinstance(error, CheckpointWriteError)
    assert error.errno == errno.ENOSPC
    message = str(error)
    path = osp.join(runner.work_dir, 'iter_4.pth')
    assert f'The checkpoint {path} was not written: ' in message
    assert ('No space left on device' if fault == 'enospc' else
            'not enough free space') in message
    free = re.search(f'{re.escape(runner.work_dir)} has ([0-9.]+) MiB free',
                     message)
    if fault == 'nofree':
        assert free.group(1) == '0.0'  # what the disk reported
    else:
        real = shutil.disk_usage(runner.work_dir).free / 2**20
        assert abs(float(free.group(1)) - real) < 1024
    assert 'the previous checkpoint and last_checkpoint are as they were' \
        in message
    assert_previous_intact(runner, seen)

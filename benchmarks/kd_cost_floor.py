#!/usr/bin/env python
"""The cost floor of distillation: a KD train step should cost what the
student's own train step plus the part of the teacher that the losses need
cost, nothing more.

For a detector (mini RTMDet, PKD on the neck), a pose model (mini RTMPose,
FitNet on the last backbone stage) and a segmenter (mini PSPNet, CWD on the
logits), on one batch, interleaved (A B C D, D C B A, ...) so that load from
other processes hits all alike:

- ``student``: the plain student's ``train_step`` (preprocessing, forward,
  GT losses, backward, AdamW step);
- ``teacher_truncated``: the teacher forward as mmkd runs it, stopped after
  the last recorded module (preprocessed batch, ``no_grad``);
- ``teacher_full``: the teacher's whole ``mode='loss'`` forward under
  ``no_grad`` (what MMRazor's ``SingleTeacherDistill`` runs);
- ``losses``: the connectors and distillation losses alone, forward and
  backward, on the recorded features (the work KD adds on top of the two
  forwards);
- ``kd``: :class:`DistillModel`'s ``train_step`` (student + teacher +
  connectors + distillation losses).

Medians over ``--iters`` after ``--warmup``; peak memory of each variant
alone in a child process (CUDA: ``max_memory_allocated``; CPU: peak RSS,
VmHWM, minus the RSS before the steps). The last lines print
KD / (student + truncated teacher), the target being <= 1.03, and
KD / (student + truncated teacher + losses): what is left is mmkd's own
overhead (recording, checks, bookkeeping).

``--ddp`` adds the distributed cost: the KD step of the detector per rank
in 2 processes (torchrun, DDP over gloo on the CPU or NCCL on GPUs) against
1 process, the same batch per process; and against 2 independent processes
(no DDP), which separates DDP's own cost from two processes sharing a
machine with few cores.

    python benchmarks/kd_cost_floor.py                  # det, pose, seg
    python benchmarks/kd_cost_floor.py --tasks det --batch-size 8 --ddp
"""
import argparse
import json
import os
import os.path as osp
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

MINI = osp.join(REPO, 'configs/mini')
TASKS = dict(
    det=('mmdet', f'{MINI}/det/rtmdet_student.py',
         f'{MINI}/det/rtmdet_teacher.py', 'rtmdet_pkd_fpn.py'),
    pose=('mmpose', f'{MINI}/pose/rtmpose_student.py',
          f'{MINI}/pose/rtmpose_teacher.py', 'rtmpose_fitnet.py'),
    seg=('mmseg', f'{MINI}/seg/pspnet_r18_student.py',
         f'{MINI}/seg/pspnet_r18_teacher.py', 'seg_cwd_logits.py'))
VARIANTS = ('student', 'teacher_truncated', 'teacher_full', 'losses', 'kd')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--tasks', nargs='+', default=list(TASKS),
                   choices=list(TASKS))
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--device', default=None, help='default: cuda if any')
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads per process (default 1)')
    p.add_argument('--work-dir', default=None,
                   help='data + teacher checkpoints (default: a temp dir)')
    p.add_argument('--no-memory', action='store_true',
                   help='skip the per-variant memory runs')
    p.add_argument('--ddp', action='store_true',
                   help='also time the detector KD step in 2 processes '
                   'against 1 (torchrun)')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    p.add_argument('--ddp-worker', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--no-wrap', action='store_true', help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --------------------------------------------------------------- building
def prepare(work_dir, task, args):
    """Mini data (once), the task's teacher checkpoint and one batch."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import Runner

    from mmkd.datasets import generate_mini_data
    scope, student_cfg, teacher_cfg, _ = TASKS[task]
    n = max(16, args.batch_size)
    data_root = osp.join(work_dir, 'data')
    generate_mini_data(data_root, num_train=n, num_val=2,
                       num_pose_train=n, num_pose_val=2)
    os.environ['MMKD_DATA_ROOT'] = data_root
    init_default_scope(scope)
    ckpt = osp.join(work_dir, f'{task}_teacher.pth')
    if not osp.exists(ckpt):
        torch.manual_seed(0)
        teacher = MODELS.build(Config.fromfile(teacher_cfg).model)
        teacher.init_weights()
        torch.save(dict(state_dict=teacher.state_dict(), meta={}), ckpt)
    cfg = Config.fromfile(student_cfg)
    loader = dict(cfg.train_dataloader, batch_size=args.batch_size)
    loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    batch = next(iter(Runner.build_dataloader(loader, seed=0)))
    return ckpt, batch


def build(task, ckpt, batch, device):
    """-> dict variant -> step function, the student and the KD model
    seeded alike."""
    import torch
    from mmengine.config import Config
    from mmengine.optim import OptimWrapper
    from mmengine.registry import MODELS, init_default_scope

    from mmkd.models import DistillModel
    scope, student_cfg, teacher_cfg, recipe = TASKS[task]
    init_default_scope(scope)
    model_cfg = Config.fromfile(student_cfg).model
    losses = Config.fromfile(
        osp.join(REPO, 'configs/distill', recipe)).distill.losses

    torch.manual_seed(1)
    student = MODELS.build(model_cfg)
    student.init_weights()
    student.to(device).train()
    student_optim = OptimWrapper(torch.optim.AdamW(student.parameters(),
                                                   lr=1e-4))
    torch.manual_seed(1)
    kd = DistillModel(student=model_cfg, losses=losses,
                      teacher=dict(config=teacher_cfg, checkpoint=ckpt))
    if not str(device).startswith('cuda'):
        # RTMDet turns BN into SyncBN in a process group; on the CPU
        # DistillRunner reverts it, as here
        kd.revert_sync_batchnorm()
    kd.init_weights()
    kd.to(device)
    kd.setup(batch)
    kd.train()
    kd_optim = OptimWrapper(torch.optim.AdamW(
        [p for p in kd.parameters() if p.requires_grad], lr=1e-4))
    data = kd.module.data_preprocessor(batch, True)

    def teacher_full():
        with torch.no_grad():
            kd.teacher(data['inputs'], data['data_samples'], mode='loss')

    # the recorded features of one KD forward, the student's as leaves
    kd._run_teacher(data['inputs'], data['data_samples'])
    kd.student_recorder.start()
    kd.module(data['inputs'], data['data_samples'], mode='tensor')
    kd.student_recorder.stop()
    feats = {n: (_leaf(kd.student_recorder.get(kd.student_specs[n])),
                 kd.teacher_recorder.get(kd.teacher_specs[n]))
             for n in kd.loss_cfgs}

    wrt = [t for s, _ in feats.values() for t in _tensors(s)] + [
        p for p in kd.distill_modules.parameters() if p.requires_grad]

    def losses():  # these recipes: no resizing, no data samples
        total = 0.
        for name, (student_feat, teacher_feat) in feats.items():
            if name in kd.connectors:
                student_feat = kd.connectors[name](student_feat)
            total = total + kd.distill_losses[name](student_feat,
                                                    teacher_feat)
        torch.autograd.grad(total, wrt)  # no .grad left behind

    return dict(
        student=lambda: student.train_step(batch, student_optim),
        teacher_truncated=lambda: kd._run_teacher(data['inputs'],
                                                  data['data_samples']),
        teacher_full=teacher_full,
        losses=losses,
        kd=lambda: kd.train_step(batch, kd_optim)), kd, kd_optim


def _leaf(x):
    if isinstance(x, (list, tuple)):
        return type(x)(_leaf(v) for v in x)
    return x.detach().requires_grad_()


def _tensors(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def timed(fn, device):
    import torch
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


# ---------------------------------------------------------------- memory
def _status(field):
    with open('/proc/self/status') as f:
        return int(re.search(rf'{field}:\s+(\d+)', f.read()).group(1)) / 1024


def worker(args):
    """Child process: one task's variant alone; prints its memory (MiB)."""
    import torch
    task, variant = args.worker.split(':')
    ckpt, batch = prepare(args.work_dir, task, args)
    steps, _, _ = build(task, ckpt, batch, args.device)
    fn = steps[variant]
    for _ in range(2):
        fn()
    if args.device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(3):
            timed(fn, args.device)
        peak = torch.cuda.max_memory_allocated()
        out = dict(peak_mib=peak / 2**20, step_mib=(peak - base) / 2**20)
    else:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset VmHWM
        base = _status('VmRSS')
        for _ in range(3):
            fn()
        peak = _status('VmHWM')
        out = dict(peak_mib=peak, step_mib=peak - base)
    print('MEMORY ' + json.dumps(out))


def measure_memory(args, task, variant):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    cmd = [sys.executable, osp.abspath(__file__), '--worker',
           f'{task}:{variant}', '--work-dir', args.work_dir, '--device',
           args.device, '--batch-size', str(args.batch_size), '--threads',
           str(args.threads)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if line.startswith('MEMORY '):
            return json.loads(line[7:])
    raise RuntimeError(f'memory run of {task}:{variant} failed:\n'
                       f'{res.stderr[-3000:]}')


# ------------------------------------------------------------------- DDP
def ddp_worker(args):
    """torchrun child: the detector's KD step, in DDP when world > 1 (as
    DistillRunner wraps it) unless ``--no-wrap`` (independent processes, the
    same load on the machine); rank 0 prints the median step time."""
    import torch
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel

    from mmkd.engine.distributed import DistillDDPModule, init_cpu_dist
    world = int(os.environ['WORLD_SIZE'])
    local_rank = int(os.environ['LOCAL_RANK'])
    if args.device.startswith('cuda'):
        torch.cuda.set_device(local_rank)
        args.device = f'cuda:{local_rank}'
        dist.init_process_group('nccl')
    else:
        init_cpu_dist('pytorch')
    ckpt, batch = prepare(args.work_dir, 'det', args)
    _, kd, optim = build('det', ckpt, batch, args.device)
    if world > 1 and not args.no_wrap:
        ddp = MMDistributedDataParallel(
            module=DistillDDPModule(kd), broadcast_buffers=False,
            device_ids=[local_rank] if args.device.startswith('cuda')
            else None)
        object.__setattr__(kd, 'ddp', ddp)
    times = []
    for i in range(args.warmup + args.iters):
        dist.barrier()
        dt = timed(lambda: kd.train_step(batch, optim), args.device)
        if i >= args.warmup:
            times.append(dt)
    if dist.get_rank() == 0:
        print('DDP ' + json.dumps(dict(world=world,
                                       median=statistics.median(times))))
    dist.destroy_process_group()


def measure_ddp(args, nproc, wrap=True):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           f'--nproc_per_node={nproc}', f'--master_port={port}',
           osp.abspath(__file__), '--ddp-worker', '--work-dir', args.work_dir,
           '--device', args.device, '--batch-size', str(args.batch_size),
           '--iters', str(args.iters), '--warmup', str(args.warmup),
           '--threads', str(args.threads)] + ([] if wrap else ['--no-wrap'])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if line.startswith('DDP '):
            return json.loads(line[4:])['median']
    raise RuntimeError(f'DDP run with {nproc} processes failed:\n'
                       f'{res.stderr[-3000:]}')


# ------------------------------------------------------------------ main
def quiet():
    """No init_weights/config chatter from mmengine, no deprecation noise."""
    import logging
    import warnings
    warnings.filterwarnings('ignore')
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)


def run_task(task, args):
    """-> (median s per variant, memory per variant) of one task."""
    ckpt, batch = prepare(args.work_dir, task, args)
    steps, _, _ = build(task, ckpt, batch, args.device)
    times = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    for i in range(args.warmup + args.iters):
        for v in order:
            dt = timed(steps[v], args.device)
            if i >= args.warmup:
                times[v].append(dt)
        order.reverse()
    del steps
    med = {v: statistics.median(t) for v, t in times.items()}
    mem = {} if args.no_memory else {
        v: measure_memory(args, task, v) for v in VARIANTS}
    return med, mem


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args)
    if args.ddp_worker:
        return ddp_worker(args)
    tmp = None
    if args.work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='kd_cost_floor_')
        args.work_dir = tmp.name
    os.makedirs(args.work_dir, exist_ok=True)

    results = {task: run_task(task, args) for task in args.tasks}
    ddp = None
    if args.ddp:
        ddp = dict(one=measure_ddp(args, 1), two=measure_ddp(args, 2),
                   two_apart=measure_ddp(args, 2, wrap=False))

    unit = 'GPU alloc' if args.device.startswith('cuda') else 'RSS'
    print(f'\nKD cost floor, batch {args.batch_size}, device {args.device}, '
          f'torch threads {torch.get_num_threads()}, {args.iters} timed '
          f'iterations each (interleaved, after {args.warmup} warm-up)')
    header = (f'{"task":<6}{"variant":<20}{"median s":>10}'
              f'{"peak " + unit + " MiB":>20}{"step +MiB":>11}')
    print(header)
    print('-' * len(header))
    for task, (med, mem) in results.items():
        for v in VARIANTS:
            m = mem.get(v)
            peak = f'{m["peak_mib"]:.0f}' if m else '-'
            inc = f'{m["step_mib"]:.0f}' if m else '-'
            print(f'{task:<6}{v:<20}{med[v]:>10.4f}{peak:>20}{inc:>11}')
    print()
    for task, (med, mem) in results.items():
        line = (f'{task}: KD / (student + full teacher) '
                f'{med["kd"] / (med["student"] + med["teacher_full"]):.3f}; '
                f'truncated / full teacher '
                f'{med["teacher_truncated"] / med["teacher_full"]:.3f}')
        if mem:
            peak = {v: m['peak_mib'] for v, m in mem.items()}
            line += (f'; peak memory KD / student '
                     f'{peak["kd"] / peak["student"]:.3f}')
        print(line)
    if ddp:
        print(f'DDP (det KD step per rank): 2 processes / 1 process '
              f'{ddp["two"] / ddp["one"]:.3f} ({ddp["two"]:.4f} s vs '
              f'{ddp["one"]:.4f} s); 2 processes in DDP / 2 independent '
              f'processes {ddp["two"] / ddp["two_apart"]:.3f} '
              f'({ddp["two_apart"]:.4f} s)')
    for task, (med, _) in results.items():
        floor = med['student'] + med['teacher_truncated']
        print(f'{task}: KD / (student + truncated teacher) '
              f'{med["kd"] / floor:.3f} (target <= 1.03); KD / (student + '
              f'truncated teacher + losses) '
              f'{med["kd"] / (floor + med["losses"]):.3f}')
    if tmp is not None:
        tmp.cleanup()


if __name__ == '__main__':
    main()

#!/usr/bin/env python
"""DWPose stage 1: mmkd vs mmpose 1.3.2's DWPoseDistiller, side by side.

Both distill the same teacher into the same student (same initial weights,
same batch, same AdamW optimizer); one iteration = data preprocessing,
teacher forward, student forward + GT loss + feature and logit distillation
losses, backward and optimizer step (``model.train_step``), with the models
in the mode the Runner puts them in (``model.train()``).

- time: the variants run interleaved (A B, B A, ...) so that load from other
  processes hits both alike; medians over ``--iters`` iterations after
  ``--warmup``; the ratio mmkd / mmpose is printed (< 1: mmkd faster).
- peak memory: on CUDA ``torch.cuda.max_memory_allocated`` during the timed
  steps; on CPU each variant runs alone in a child process (glibc mmap
  threshold lowered so that freed tensors leave the RSS) and the peak RSS
  (VmHWM, reset before the steps) minus the RSS before the steps is
  reported, as well as the absolute peak.

The extra column "mmpose, teacher.eval()" is mmpose's distiller with its
teacher put back in eval mode by hand after ``model.train()``: it separates
what the teacher-BN defect costs from the rest.

    python benchmarks/dwpose_stage1_speed.py       # mini RTMPose s -> t
    python benchmarks/dwpose_stage1_speed.py --batch-size 64 --iters 30
"""
import argparse
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

VARIANTS = ('mmkd', 'mmpose', 'mmpose_teacher_eval')
LABELS = {
    'mmkd': 'mmkd DistillModel',
    'mmpose': 'mmpose DWPoseDistiller',
    'mmpose_teacher_eval': 'mmpose, teacher.eval()'
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--teacher-config', default=osp.join(
        REPO, 'configs/mini/pose/rtmpose_teacher.py'))
    p.add_argument('--student-config', default=osp.join(
        REPO, 'configs/mini/pose/rtmpose_student.py'))
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--device', default=None, help='default: cuda if any')
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads (default 1: on a shared machine '
                   'OpenMP threads waiting for each other dominate and '
                   'drown the difference being measured)')
    p.add_argument('--work-dir', default=None,
                   help='data + teacher checkpoint (default: a temp dir)')
    p.add_argument('--no-memory', action='store_true',
                   help='skip the per-variant memory runs')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --------------------------------------------------------------- building
def prepare(work_dir, args):
    """Mini data, a teacher checkpoint and one batch."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import Runner

    from mmkd.datasets import generate_mini_data
    data_root = osp.join(work_dir, 'data')
    n = max(16, args.batch_size)
    generate_mini_data(data_root, num_train=4, num_val=2,
                       num_pose_train=n, num_pose_val=4)
    os.environ['MMKD_DATA_ROOT'] = data_root
    init_default_scope('mmpose')
    ckpt = osp.join(work_dir, 'teacher.pth')
    if not osp.exists(ckpt):
        torch.manual_seed(0)
        teacher = MODELS.build(Config.fromfile(args.teacher_config).model)
        teacher.init_weights()
        torch.save(dict(state_dict=teacher.state_dict(), meta={}), ckpt)
    cfg = Config.fromfile(args.student_config)
    loader = dict(cfg.train_dataloader, batch_size=args.batch_size)
    loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    batch = next(iter(Runner.build_dataloader(loader, seed=0)))
    return ckpt, batch


def build(variant, ckpt, batch, args, device):
    """-> (model, optim_wrapper) for one variant, student weights seeded
    identically for every variant."""
    import torch
    from mmengine.config import Config, ConfigDict
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS as POSE_MODELS

    import mmkd.models.losses.dwpose_feature_loss  # noqa: F401
    import mmkd.models.losses.simcc_logit_loss  # noqa: F401
    from mmkd.models import DistillModel

    init_default_scope('mmpose')
    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', 0)
    hub.update_info('max_epochs', 10)
    student_cfg = Config.fromfile(args.student_config)
    torch.manual_seed(1)
    if variant == 'mmkd':
        distill = Config.fromfile(
            osp.join(REPO, 'configs/distill/dwpose_stage1.py')).distill
        model = DistillModel(
            student=student_cfg.model, losses=distill.losses,
            teacher=dict(config=args.teacher_config, checkpoint=ckpt))
        model.init_weights()
        model.to(device)
        model.setup(batch)
    else:
        s, t = (Config.fromfile(c).model.backbone.widen_factor
                for c in (args.student_config, args.teacher_config))
        model = POSE_MODELS.build(ConfigDict(
            type='DWPoseDistiller',
            teacher_cfg=args.teacher_config,
            student_cfg=args.student_config,
            teacher_pretrained=ckpt,
            distill_cfg=[
                dict(methods=[dict(
                    type='FeaLoss', name='loss_fea', use_this=True,
                    student_channels=int(1024 * s),
                    teacher_channels=int(1024 * t), alpha_fea=7e-5)]),
                dict(methods=[dict(type='KDLoss', name='loss_logit',
                                   use_this=True, weight=0.1)]),
            ],
            data_preprocessor=student_cfg.model.data_preprocessor))
        model.init_weights()
        model.to(device)
    model.train()
    if variant == 'mmpose_teacher_eval':
        model.teacher.eval()
    # student + the feature loss' align conv (mmkd's DistillRunner adds the
    # latter as an extra param group; here both are in one group)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = OptimWrapper(torch.optim.AdamW(params, lr=4e-3))
    return model, optim


def sync(device):
    import torch
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def step(model, optim, batch, device):
    """-> (wall seconds, process CPU seconds) of one training iteration."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    model.train_step(batch, optim)
    sync(device)
    return time.perf_counter() - t0, time.process_time() - c0


# ---------------------------------------------------------------- memory
def _status(field):
    with open('/proc/self/status') as f:
        return int(re.search(rf'{field}:\s+(\d+)', f.read()).group(1)) / 1024


def worker(args):
    """Child process: one variant alone; prints its memory as JSON."""
    import torch
    device = args.device
    ckpt, batch = prepare(args.work_dir, args)
    model, optim = build(args.worker, ckpt, batch, args, device)
    for _ in range(args.warmup):
        step(model, optim, batch, device)
    out = {}
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(3):
            step(model, optim, batch, device)
        out = dict(peak_mib=torch.cuda.max_memory_allocated() / 2**20,
                   step_mib=(torch.cuda.max_memory_allocated() - base) / 2**20)
    else:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset VmHWM
        base = _status('VmRSS')
        for _ in range(3):
            step(model, optim, batch, device)
        peak = _status('VmHWM')
        out = dict(peak_mib=peak, step_mib=peak - base)
    print('MEMORY ' + json.dumps(out))


def measure_memory(args, variant):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    cmd = [sys.executable, osp.abspath(__file__), '--worker', variant,
           '--work-dir', args.work_dir, '--device', args.device,
           '--batch-size', str(args.batch_size), '--warmup', '2',
           '--threads', str(args.threads),
           '--teacher-config', args.teacher_config,
           '--student-config', args.student_config]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if line.startswith('MEMORY '):
            return json.loads(line[7:])
    raise RuntimeError(
        f'memory run of {variant} failed:\n{res.stderr[-3000:]}')


# ------------------------------------------------------------------ main
def quiet():
    """No init_weights/config chatter from mmengine, no deprecation noise."""
    import logging
    import warnings
    warnings.filterwarnings('ignore')
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args)
    tmp = None
    if args.work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='dwpose_bench_')
        args.work_dir = tmp.name
    os.makedirs(args.work_dir, exist_ok=True)

    ckpt, batch = prepare(args.work_dir, args)
    models = {v: build(v, ckpt, batch, args, args.device) for v in VARIANTS}
    times = {v: [] for v in VARIANTS}
    cpu = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    for i in range(args.warmup + args.iters):
        for v in order:
            dt, dc = step(*models[v], batch, args.device)
            if i >= args.warmup:
                times[v].append(dt)
                cpu[v].append(dc)
        order.reverse()  # A B C, C B A, ...
    med = {v: statistics.median(t) for v, t in times.items()}
    med_cpu = {v: statistics.median(t) for v, t in cpu.items()}
    del models

    mem = {}
    if not args.no_memory:
        for v in VARIANTS:
            mem[v] = measure_memory(args, v)

    s_name = osp.basename(args.student_config)
    t_name = osp.basename(args.teacher_config)
    print(f'\nDWPose stage 1, teacher {t_name} -> student {s_name}, '
          f'batch {args.batch_size}, device {args.device}, torch threads '
          f'{torch.get_num_threads()}, {args.iters} timed iterations each '
          f'(interleaved, after {args.warmup} warm-up)')
    unit = 'GPU alloc' if args.device.startswith('cuda') else 'RSS'
    header = (f'{"variant":<26}{"median s/iter":>14}{"min":>9}{"max":>9}'
              f'{"CPU s/iter":>11}{"peak " + unit + " MiB":>20}'
              f'{"step +MiB":>11}')
    print(header)
    print('-' * len(header))
    for v in VARIANTS:
        m = mem.get(v, {})
        peak = f'{m["peak_mib"]:.0f}' if m else '-'
        inc = f'{m["step_mib"]:.0f}' if m else '-'
        print(f'{LABELS[v]:<26}{med[v]:>14.4f}{min(times[v]):>9.4f}'
              f'{max(times[v]):>9.4f}{med_cpu[v]:>11.4f}{peak:>20}{inc:>11}')
    ratio = med['mmkd'] / med['mmpose']
    print(f'\ntime ratio mmkd / mmpose DWPoseDistiller (median wall): '
          f'{ratio:.3f} ({"mmkd faster" if ratio < 1 else "mmkd SLOWER"}); '
          f'min wall: {min(times["mmkd"]) / min(times["mmpose"]):.3f}; '
          f'median CPU: {med_cpu["mmkd"] / med_cpu["mmpose"]:.3f}')
    print(f'time ratio mmkd / mmpose with teacher.eval() (median wall): '
          f'{med["mmkd"] / med["mmpose_teacher_eval"]:.3f}; min wall: '
          f'{min(times["mmkd"]) / min(times["mmpose_teacher_eval"]):.3f}')
    if mem:
        print(f'peak memory ratio mmkd / mmpose: '
              f'{mem["mmkd"]["peak_mib"] / mem["mmpose"]["peak_mib"]:.3f}; '
              f'step increment ratio: '
              f'{mem["mmkd"]["step_mib"] / max(mem["mmpose"]["step_mib"], 1e-9):.3f}')  # noqa: E501
    if tmp is not None:
        tmp.cleanup()


if __name__ == '__main__':
    main()

#!/usr/bin/env python
"""Where the time of a DWPose stage-1 training step goes: mmkd vs mmpose.

Same models, batch and optimizer as ``dwpose_stage1_speed.py`` (its
``prepare`` and ``build`` are reused). For each of the two variants:

- phases: the step split into data preprocessing, teacher forward,
  student forward + GT loss, distillation losses, backward + optimizer
  step, each timed with the device synchronised before and after (medians
  over ``--iters`` steps; the synchronisation removes CPU/GPU overlap, so
  the phases add up to more than an unsynchronised step);
- torch.profiler over ``--profile-iters`` steps: kernel launches, host-device
  synchronisations and copies per step, GPU kernel time per step, and the
  operators whose counts or times differ most between the variants.

    python benchmarks/dwpose_stage1_profile.py --device cuda --batch-size 64
"""
import argparse
import collections
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))
sys.path.insert(0, REPO)

import dwpose_stage1_speed as speed  # noqa: E402

PHASES = ('preprocess', 'teacher', 'student+gt', 'distill', 'backward+step')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default=None)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--profile-iters', type=int, default=5)
    p.add_argument('--top', type=int, default=12)
    p.add_argument('--threads', type=int, default=1)
    return p.parse_args(argv)


class PhaseTimer:
    """Wraps methods so that each call is timed with the device synced."""

    def __init__(self, device):
        self.device = device
        self.times = collections.defaultdict(float)
        self.enabled = False

    def wrap(self, obj, attr, phase):
        original = getattr(obj, attr)

        def wrapped(*args, **kwargs):
            if not self.enabled:
                return original(*args, **kwargs)
            speed.sync(self.device)
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                speed.sync(self.device)
                self.times[phase] += time.perf_counter() - t

        setattr(obj, attr, wrapped)


def instrument(variant, model, optim, timer):
    timer.wrap(optim, 'update_params', 'backward+step')
    if variant == 'mmkd':
        timer.wrap(model.module.data_preprocessor, 'forward', 'preprocess')
        timer.wrap(model, '_run_teacher', 'teacher')
        timer.wrap(model, '_run_student', 'student+gt')
        timer.wrap(model, '_distill_losses', 'distill')
    else:
        timer.wrap(model.data_preprocessor, 'forward', 'preprocess')
        timer.wrap(model.teacher, 'extract_feat', 'teacher')
        timer.wrap(model.teacher.head, 'forward', 'teacher')
        timer.wrap(model.student, 'extract_feat', 'student+gt')
        timer.wrap(model, 'head_loss', 'student+gt')
        for loss in model.distill_losses.values():
            timer.wrap(loss, 'forward', 'distill')


def profile_steps(model, optim, batch, device, n):
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU]
    if str(device).startswith('cuda'):
        acts.append(ProfilerActivity.CUDA)
    speed.sync(device)
    with profile(activities=acts) as prof:
        for _ in range(n):
            model.train_step(batch, optim)
        speed.sync(device)
    stats = {}
    for e in prof.key_averages():
        dev = getattr(e, 'self_device_time_total', None)
        if dev is None:
            dev = getattr(e, 'self_cuda_time_total', 0)
        stats[e.key] = dict(count=e.count / n, cpu_us=e.self_cpu_time_total / n,
                            dev_us=dev / n)
    return stats


def main(argv=None):
    args = parse_args(argv)
    speed.quiet()
    import torch
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory(prefix='dwpose_prof_')
    bargs = speed.parse_args(['--batch-size', str(args.batch_size),
                              '--work-dir', tmp.name])
    ckpt, batch = speed.prepare(tmp.name, bargs)
    variants = ('mmkd', 'mmpose')
    results = {}
    # the profiler's first session pays its own start-up: not in a variant
    from torch.profiler import profile
    with profile():
        torch.ones(1, device=args.device).sum().item()
    for v in variants:
        model, optim = speed.build(v, ckpt, batch, bargs, args.device)
        for _ in range(args.warmup):
            speed.step(model, optim, batch, args.device)
        plain = [speed.step(model, optim, batch, args.device)[0]
                 for _ in range(args.iters)]
        timer = PhaseTimer(args.device)
        instrument(v, model, optim, timer)
        timer.enabled = True
        phases = collections.defaultdict(list)
        synced = []
        for _ in range(args.iters):
            timer.times.clear()
            synced.append(speed.step(model, optim, batch, args.device)[0])
            for k, t in timer.times.items():
                phases[k].append(t)
        timer.enabled = False
        stats = profile_steps(model, optim, batch, args.device,
                              args.profile_iters)
        results[v] = dict(plain=statistics.median(plain),
                          synced=statistics.median(synced),
                          phases={k: statistics.median(t)
                                  for k, t in phases.items()},
                          stats=stats)
        del model, optim
        if args.device.startswith('cuda'):
            torch.cuda.empty_cache()
    tmp.cleanup()

    print(f'\nDWPose stage 1 step profile, batch {args.batch_size}, device '
          f'{args.device}'
          f'{" (" + torch.cuda.get_device_name() + ")" if args.device.startswith("cuda") else ""}')  # noqa: E501
    print(f'{"":<34}{"mmkd":>12}{"mmpose":>12}{"ratio":>8}')

    def row(name, a, b, fmt='{:>12.2f}'):
        ratio = a / b if b else float('nan')
        print(f'{name:<34}' + fmt.format(a) + fmt.format(b) +
              f'{ratio:>8.3f}')

    r = results
    row('step ms (median, unsynced)', r['mmkd']['plain'] * 1e3,
        r['mmpose']['plain'] * 1e3)
    row('step ms (phases synced)', r['mmkd']['synced'] * 1e3,
        r['mmpose']['synced'] * 1e3)
    for ph in PHASES:
        row(f'  {ph} ms', r['mmkd']['phases'].get(ph, 0) * 1e3,
            r['mmpose']['phases'].get(ph, 0) * 1e3)

    def total(stats, pred, key):
        return sum(s[key] for k, s in stats.items() if pred(k))

    sa, sb = r['mmkd']['stats'], r['mmpose']['stats']
    for name, pred, key in (
            ('kernel launches / step', lambda k: k in (
                'cudaLaunchKernel', 'cuLaunchKernel', 'cudaLaunchKernelExC',
                'cuLaunchKernelEx'), 'count'),
            ('stream/device syncs / step', lambda k: 'Synchronize' in k,
             'count'),
            ('memcpy calls / step', lambda k: 'Memcpy' in k and
             k.startswith('cuda'), 'count'),
            ('aten ops / step', lambda k: k.startswith('aten::'), 'count'),
            ('GPU time ms / step (self)', lambda k: True, 'dev_us'),
            ('CPU self time ms / step', lambda k: True, 'cpu_us')):
        a, b = total(sa, pred, key), total(sb, pred, key)
        if key.endswith('_us'):
            a, b = a / 1e3, b / 1e3
        row(name, a, b)

    keys = set(sa) | set(sb)
    zero = dict(count=0, cpu_us=0, dev_us=0)
    for key_name, label in (('dev_us', 'GPU us'), ('cpu_us', 'CPU self us'),
                            ('count', 'calls')):
        diff = sorted(keys, key=lambda k: -abs(sa.get(k, zero)[key_name] -
                                              sb.get(k, zero)[key_name]))
        print(f'\nlargest differences in {label} per step '
              '(mmkd - mmpose), with calls per step:')
        for k in diff[:args.top]:
            a, b = sa.get(k, zero), sb.get(k, zero)
            print(f'  {k[:60]:<60} {a[key_name] - b[key_name]:>+10.1f}'
                  f'   calls {a["count"]:.0f} vs {b["count"]:.0f}')


if __name__ == '__main__':
    main()

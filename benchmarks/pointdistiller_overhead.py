#!/usr/bin/env python
"""Time and memory of PointDistiller's loss per iteration, relative to the
student's own training step, at the official KITTI PointPillars setting.

Models: mmdet3d 1.4's own 3-class KITTI PointPillars
(``pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py``: 69.12 m x 79.36 m
at 0.16 m pillars, a 432 x 496 BEV grid, 64-channel pillar features) as the
teacher (random weights: the cost does not depend on them) and its 4x
student (PFN 32 channels, backbone [32, 64, 128], neck [64, 64, 64], as
configs/mini/det3d/pointpillars_student.py shrinks it), with the recipe
configs/distill/pointdistiller_pointpillars.py (N = 6000 centres, K = 128
neighbours, C' = 32, tau = 0.01). The batch: ``--batch-size`` clouds of
mmkd's generated KITTI-like frames (``--ground-points`` ground points plus
the objects'); the pooled pillar count M is printed (the defaults give
~20k pillars of 64 / 32 channels).

Variants, timed interleaved (A B C D, D C B A, ...) so that load from other
processes hits all alike; medians over ``--iters`` after ``--warmup``:

- ``student``: the plain student's ``train_step`` (voxelization, forward,
  GT losses, backward, AdamW step);
- ``teacher``: the teacher forward as mmkd runs it (no_grad, stopped after
  the voxel encoder, the student's voxelization);
- ``loss``: PointDistillerLoss alone on the recorded pillar features,
  forward and backward (top-N, chunked kNN, edge features, both adapters);
- ``kd``: DistillModel's ``train_step`` (student + teacher + loss).

Memory: each variant alone in a child process, 2 warm-up steps, then the
peak over 3 steps. CPU: peak RSS (``VmHWM``, reset through
``/proc/self/clear_refs``) and its rise over the RSS before the steps
(glibc told to return large blocks, ``MALLOC_MMAP_THRESHOLD_=65536``);
CUDA: ``torch.cuda.max_memory_allocated`` and its rise over the memory
allocated before.

    python benchmarks/pointdistiller_overhead.py
    python benchmarks/pointdistiller_overhead.py --batch-size 6 --iters 5
    python benchmarks/pointdistiller_overhead.py --device cuda --iters 20
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from kd_cost_floor import _status, quiet, timed  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

TEACHER = ('mmdet3d::pointpillars/'
           'pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py')
STUDENT_4X = dict(  # PointDistiller's 4x student: channels / 2
    voxel_encoder=dict(feat_channels=[32]),
    middle_encoder=dict(in_channels=32),
    backbone=dict(in_channels=32, out_channels=[32, 64, 128]),
    neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    bbox_head=dict(in_channels=192, feat_channels=192))
RECIPE = osp.join(REPO, 'configs/distill/pointdistiller_pointpillars.py')
VARIANTS = ('student', 'teacher', 'loss', 'kd')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--ground-points', type=int, default=10000,
                   help='ground points per generated frame (objects add '
                   'theirs); 10000 gives ~10k pillars a frame')
    p.add_argument('--num-items', type=int, default=6000, help='N')
    p.add_argument('--num-neighbors', type=int, default=128, help='K')
    p.add_argument('--iters', type=int, default=7)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--device', default=None, help='default: cuda if any')
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads (default 1)')
    p.add_argument('--work-dir', default=None,
                   help='teacher checkpoint (default: a temp dir)')
    p.add_argument('--no-memory', action='store_true',
                   help='skip the per-variant memory runs')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --------------------------------------------------------------- building
def make_batch(args):
    """``args.batch_size`` generated frames with their boxes."""
    import numpy as np
    import torch
    from mmengine.structures import InstanceData
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes

    from mmkd.datasets.mini_kitti import _draw_frame
    names = ['Pedestrian', 'Cyclist', 'Car']
    clouds, samples = [], []
    for i in range(args.batch_size):
        points, objects = _draw_frame(np.random.default_rng((0, 0, i)),
                                      args.ground_points)
        clouds.append(torch.from_numpy(points))
        sample = Det3DDataSample()
        sample.set_metainfo(dict(box_type_3d=LiDARInstance3DBoxes))
        gt = InstanceData()
        gt.bboxes_3d = LiDARInstance3DBoxes(torch.tensor(
            np.stack([b for _, b in objects]), dtype=torch.float32))
        gt.labels_3d = torch.tensor([names.index(n) for n, _ in objects])
        sample.gt_instances_3d = gt
        samples.append(sample)
    return dict(inputs=dict(points=clouds), data_samples=samples)


def build(args):
    """-> (dict variant -> step function, pooled pillars M)."""
    import torch
    from mmengine.config import Config
    from mmengine.optim import OptimWrapper
    from mmengine.registry import MODELS, init_default_scope

    from mmkd.models import DistillModel
    from mmkd.models.teacher import load_config
    init_default_scope('mmdet3d')
    device = args.device
    teacher_cfg = load_config(TEACHER, 'teacher')
    ckpt = osp.join(args.work_dir, 'pointpillars_teacher.pth')
    if not osp.exists(ckpt):
        torch.manual_seed(0)
        torch.save(dict(state_dict=MODELS.build(teacher_cfg.model)
                        .state_dict(), meta={}), ckpt)
    student_cfg = Config(dict(model=teacher_cfg.model.to_dict()))
    student_cfg.merge_from_dict(dict(model=STUDENT_4X))
    losses = Config.fromfile(RECIPE).distill.losses.to_dict()
    losses['pointdistiller'].update(num_items=args.num_items,
                                    num_neighbors=args.num_neighbors)
    batch = make_batch(args)

    torch.manual_seed(1)
    student = MODELS.build(student_cfg.model).to(device).train()
    student_optim = OptimWrapper(torch.optim.AdamW(student.parameters(),
                                                   lr=1e-4))
    torch.manual_seed(1)
    kd = DistillModel(student=student_cfg.model, losses=losses,
                      teacher=dict(config=TEACHER, checkpoint=ckpt))
    kd.to(device)
    kd.setup(batch)
    kd.train()
    kd_optim = OptimWrapper(torch.optim.AdamW(
        [p for p in kd.parameters() if p.requires_grad], lr=1e-4))
    data = kd.module.data_preprocessor(batch, True)
    pillars = int(data['inputs']['voxels']['num_points'].shape[0])

    def teacher():
        # the teacher gets a copy: PillarFeatureNet changes voxels in place
        inputs = dict(data['inputs'], voxels={
            k: v.clone() for k, v in data['inputs']['voxels'].items()})
        kd._run_teacher(inputs, data['data_samples'])

    # the recorded features of one KD forward, the student's as a leaf
    teacher()
    kd.student_recorder.start()
    kd.module(dict(data['inputs'], voxels={
        k: v.clone() for k, v in data['inputs']['voxels'].items()}),
        data['data_samples'], mode='tensor')
    kd.student_recorder.stop()
    spec_s = kd.student_specs['pointdistiller']
    spec_t = kd.teacher_specs['pointdistiller']
    s_feat = kd.student_recorder.get(spec_s).detach().requires_grad_()
    t_feat = kd.teacher_recorder.get(spec_t)
    loss_module = kd.distill_losses['pointdistiller']
    wrt = [s_feat] + [p for p in loss_module.parameters() if p.requires_grad]

    def loss():
        torch.autograd.grad(loss_module(s_feat, t_feat), wrt)

    steps = dict(
        student=lambda: student.train_step(batch, student_optim),
        teacher=teacher,
        loss=loss,
        kd=lambda: kd.train_step(batch, kd_optim))
    shapes = dict(pillars=pillars, student=tuple(s_feat.shape),
                  teacher=tuple(t_feat[0].shape))
    return steps, shapes


# ---------------------------------------------------------------- memory
def worker(args):
    """Child process: one variant alone; prints its memory (MiB)."""
    import torch
    steps, _ = build(args)
    fn = steps[args.worker]
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
        out = dict(peak_mib=_status('VmHWM'),
                   step_mib=_status('VmHWM') - base)
    print('MEMORY ' + json.dumps(out))


def measure_memory(args, variant):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    cmd = [sys.executable, osp.abspath(__file__), '--worker', variant,
           '--work-dir', args.work_dir, '--device', args.device,
           '--batch-size', str(args.batch_size), '--ground-points',
           str(args.ground_points), '--num-items', str(args.num_items),
           '--num-neighbors', str(args.num_neighbors), '--threads',
           str(args.threads)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if line.startswith('MEMORY '):
            return json.loads(line[7:])
    raise RuntimeError(f'memory run of {variant} failed:\n'
                       f'{res.stderr[-3000:]}')


# ------------------------------------------------------------------ main
def main(argv=None):
    args = parse_args(argv)
    quiet()
    import torch
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.set_num_threads(args.threads)
    tmp = None
    if args.work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='pointdistiller_overhead_')
        args.work_dir = tmp.name
    os.makedirs(args.work_dir, exist_ok=True)
    if args.worker:
        return worker(args)

    steps, shapes = build(args)
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
    mem = {} if args.no_memory else {v: measure_memory(args, v)
                                     for v in VARIANTS}

    unit = 'GPU alloc' if args.device.startswith('cuda') else 'RSS'
    print(f'\nPointDistiller overhead: official KITTI PointPillars (432 x 496 '
          f'grid) teacher 64 ch / 4x student 32 ch, batch '
          f'{args.batch_size}, M = {shapes["pillars"]} pillars (student '
          f'{shapes["student"]}, teacher {shapes["teacher"]}), N = '
          f'{min(args.num_items, shapes["pillars"])}, K = '
          f'{args.num_neighbors}; device {args.device}, torch threads '
          f'{torch.get_num_threads()}; medians of {args.iters} interleaved '
          f'iterations after {args.warmup} warm-up')
    header = (f'{"variant":<10}{"median s":>10}{"min s":>9}{"max s":>9}'
              f'{"peak " + unit + " MiB":>20}{"step +MiB":>11}')
    print(header)
    print('-' * len(header))
    for v in VARIANTS:
        m = mem.get(v)
        peak = f'{m["peak_mib"]:.0f}' if m else '-'
        inc = f'{m["step_mib"]:.0f}' if m else '-'
        print(f'{v:<10}{med[v]:>10.3f}{min(times[v]):>9.3f}'
              f'{max(times[v]):>9.3f}{peak:>20}{inc:>11}')
    print()
    print(f'time: loss / student step {med["loss"] / med["student"]:.3f}; '
          f'KD step / student step {med["kd"] / med["student"]:.3f}; '
          f'KD / (student + teacher + loss) '
          f'{med["kd"] / (med["student"] + med["teacher"] + med["loss"]):.3f}')
    if mem:
        print(f'memory (step +MiB): loss / student '
              f'{mem["loss"]["step_mib"] / mem["student"]["step_mib"]:.3f}; '
              f'KD / student '
              f'{mem["kd"]["step_mib"] / mem["student"]["step_mib"]:.3f}; '
              f'peak {unit}: KD / student '
              f'{mem["kd"]["peak_mib"] / mem["student"]["peak_mib"]:.3f}')
    if tmp is not None:
        tmp.cleanup()


if __name__ == '__main__':
    main()

"""PointDistiller demo: a PointPillars teacher, its 4x smaller student
alone and the same student with PointDistiller, on mmkd's generated
KITTI-format point clouds, judged by mmdet3d's KittiMetric.

1. draw the KITTI-format clouds (mmkd.datasets.mini_kitti) into
   ``<data-root>/kitti``: ``--train-frames`` training and ``--val-frames``
   validation frames (enough for >= 40 objects of each class in val);
2. train the teacher (configs/mini/det3d/pointpillars_teacher.py, PFN 64,
   backbone [64, 128, 256]) for ``--teacher-epochs``;
3. for each seed, train the 4x student (pointpillars_student.py, PFN 32,
   backbone [32, 64, 128]) alone and with PointDistiller
   (configs/examples/pointpillars_student_pointdistiller_mini.py) on the
   first ``--student-frames`` training frames for ``--student-epochs``.
   Seed ``s`` gives both the same initial weights and data order
   (``randomness.seed = s``);
4. evaluate all with KittiMetric (3D and BEV AP, moderate, AP40 and AP11
   over the three classes) and print a markdown table: the mean over seeds
   and each seed, and the median time per training iteration.

    python tools/demos/pointdistiller_demo.py [--work-dir DIR] [--seeds 0 1 2]

Each run leaves ``demo_result.json`` in its work dir and is read back
from it when the demo runs again, so the seeds can be trained in parallel
processes (``--seeds 0``, ``--seeds 1`` ... after the teacher) and a last
``--seeds 0 1 2`` prints the table of all.

KittiMetric's rotated-IoU kernels are numba.cuda ones: without CUDA this
script runs them in numba's simulator (NUMBA_ENABLE_CUDASIM=1, set before
anything imports numba).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

import torch

if not torch.cuda.is_available():
    os.environ.setdefault('NUMBA_ENABLE_CUDASIM', '1')

from mmengine.config import Config  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from analysis.plot_losses import read_scalars  # noqa: E402
from train import build_runner  # noqa: E402

import mmkd  # noqa: E402,F401
from mmkd.datasets.mini_kitti import generate_mini_kitti  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {
    'teacher': 'configs/mini/det3d/pointpillars_teacher.py',
    '4x student': 'configs/mini/det3d/pointpillars_student.py',
    '4x student + PointDistiller':
    'configs/examples/pointpillars_student_pointdistiller_mini.py',
}
METRIC = 'Kitti metric/pred_instances_3d/KITTI/Overall_{}_moderate'
COLUMNS = dict(ap3d='3D_AP40', bev='BEV_AP40', ap3d11='3D_AP11',
               bev11='BEV_AP11')


def schedule(cfg: Config, epochs: int) -> None:
    """``epochs`` epochs, the config's one-cycle schedule stretched to
    them (its phases are given in epochs of ``epoch_num``)."""
    if epochs < 3:
        raise ValueError('the one-cycle schedule needs >= 3 epochs')
    scale = epochs / cfg.epoch_num
    cfg.train_cfg.max_epochs = epochs
    for sched in cfg.param_scheduler:
        for key in ('T_max', 'begin', 'end'):
            sched[key] = sched[key] * scale
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=epochs)


def run(name: str, cfg_path: str, work_dir: str, epochs: int,
        options: dict, frames: int = 0, ckpt: str = None,
        threads: int = 1) -> dict:
    """Train (unless ``ckpt`` is given: then only evaluate it) and test
    one model; its metrics (AP in %), time per iteration and checkpoint.
    A run whose ``demo_result.json`` exists is read back, not run again
    (the seeds can run in parallel processes, see the module doc)."""
    done = osp.join(work_dir, 'demo_result.json')
    if osp.exists(done):
        with open(done) as f:
            result = json.load(f)
        print(f'[demo] {name} ({osp.basename(work_dir)}): read back',
              flush=True)
        return result
    cfg = Config.fromfile(osp.join(REPO, cfg_path))
    cfg.work_dir = work_dir
    schedule(cfg, epochs)
    if frames:  # the first `frames` training frames
        cfg.train_dataloader.dataset.indices = frames
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    # evaluated once, by runner.test() after training (a val loop would
    # evaluate the last epoch a second time)
    cfg.update(val_dataloader=None, val_cfg=None, val_evaluator=None)
    cfg.merge_from_dict(options)
    # mmengine keeps one visualizer per name and one MessageHub per
    # experiment name for the whole process: fresh ones for each run
    cfg.visualizer.name = f'visualizer_{osp.basename(work_dir)}'
    cfg.experiment_name = f'{osp.basename(work_dir)}_{time.time_ns()}'
    if ckpt:
        cfg.load_from = ckpt
    runner = build_runner(cfg)
    torch.set_num_threads(threads)  # (building the runner may change it)
    start = time.time()
    if not ckpt:
        runner.train()
    minutes = (time.time() - start) / 60
    metrics = runner.test()
    try:
        records = read_scalars(work_dir)
    except FileNotFoundError:  # only evaluated
        records = []
    iter_times = [r['time'] for r in records if 'time' in r
                  and 'loss' in r] or [float('nan')]
    if not ckpt:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
    # KittiMetric reports AP in %
    result = {k: metrics[METRIC.format(v)] for k, v in COLUMNS.items()}
    print(f'[demo] {name} ({osp.basename(work_dir)}): ' + ', '.join(
        f'{k} {v:.2f}' for k, v in result.items()), flush=True)
    result = dict(result, iter_time=statistics.median(iter_times),
                  minutes=minutes, ckpt=ckpt)
    with open(done, 'w') as f:
        json.dump(result, f)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/pointdistiller_demo')
    parser.add_argument('--data-root', default='data/mini_kitti_demo',
                        help='the clouds go to DATA_ROOT/kitti')
    parser.add_argument('--train-frames', type=int, default=64)
    parser.add_argument('--val-frames', type=int, default=40)
    parser.add_argument('--ground-points', type=int, default=2000,
                        help='ground points per frame (objects add theirs)')
    parser.add_argument('--teacher-epochs', type=int, default=20)
    parser.add_argument('--student-epochs', type=int, default=20)
    parser.add_argument('--student-frames', type=int, default=0,
                        help='train the students on the first N training '
                        'frames (0: all)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--students', nargs='+', default=['plain', 'kd'],
                        choices=['plain', 'kd'],
                        help='which students to train (the table needs '
                        'both: a later run reads the others back)')
    parser.add_argument('--teacher-checkpoint', default=None,
                        help='a trained teacher of this demo: evaluated, '
                        'not trained again')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (more are slower on a shared '
                        '2-core machine)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()

    os.environ['MMKD_DATA_ROOT'] = osp.abspath(args.data_root)
    # drawn once per setting (parallel demo processes and the results zoo's
    # det3d_pointdistiller family share the frames)
    generate_mini_kitti(osp.join(args.data_root, 'kitti'), seed=0,
                        num_train=args.train_frames,
                        num_val=args.val_frames,
                        num_ground=args.ground_points)
    print(f'[demo] {args.train_frames} training / {args.val_frames} '
          f'validation frames in {args.data_root}/kitti')

    results = {}  # name -> one result per seed (the teacher: one)
    teacher = run('teacher', CONFIGS['teacher'],
                  osp.join(args.work_dir, 'teacher'), args.teacher_epochs,
                  {'randomness.seed': 0}, ckpt=args.teacher_checkpoint,
                  threads=args.threads)
    results['teacher'] = [teacher]
    for seed in args.seeds:
        for name in ('4x student', '4x student + PointDistiller'):
            if ('Point' in name) != ('kd' in args.students) and len(
                    args.students) == 1:
                continue
            options = {'randomness.seed': seed}
            if 'PointDistiller' in name:
                options['distill.teacher.checkpoint'] = teacher['ckpt']
            work_dir = osp.join(
                args.work_dir, ('student_pointdistiller' if 'Point' in name
                                else 'student') + f'_seed{seed}')
            results.setdefault(name, []).append(run(
                name, CONFIGS[name], work_dir, args.student_epochs, options,
                args.student_frames, threads=args.threads))

    rows = ['| model | 3D AP40 mod. | BEV AP40 mod. | 3D AP11 mod. | '
            'BEV AP11 mod. | s / iter (median) | train min | '
            '3D / BEV AP40 mod. per seed |',
            '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
    for name, runs in results.items():
        mean = {k: statistics.mean(r[k] for r in runs)
                for k in (*COLUMNS, 'iter_time', 'minutes')}
        rows.append(
            f'| {name} | {mean["ap3d"]:.2f} | {mean["bev"]:.2f} | '
            f'{mean["ap3d11"]:.2f} | {mean["bev11"]:.2f} | '
            f'{mean["iter_time"]:.3f} | {mean["minutes"]:.1f} | ' +
            ', '.join(f'{r["ap3d"]:.2f} / {r["bev"]:.2f}' for r in runs) +
            ' |')
    if len(results) < 3:
        return
    plain, kd = results['4x student'], results['4x student + PointDistiller']
    diff = {k: [b[k] - a[k] for a, b in zip(plain, kd)]
            for k in ('ap3d', 'bev')}
    table = '\n'.join(rows)
    summary = (
        f'distilled - plain (paired, mean over seeds {args.seeds}): '
        f'3D AP40 {statistics.mean(diff["ap3d"]):+.2f} (per seed ' +
        ', '.join(f'{d:+.2f}' for d in diff['ap3d']) + '), BEV AP40 '
        f'{statistics.mean(diff["bev"]):+.2f} (per seed ' +
        ', '.join(f'{d:+.2f}' for d in diff['bev']) + ')')
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n\n' + summary + '\n')
    print(f'\nPointDistiller demo: PointPillars on {args.train_frames} '
          f'generated KITTI-format frames (students: '
          f'{args.student_frames or args.train_frames} frames, '
          f'{args.student_epochs} epochs; teacher {args.teacher_epochs} '
          f'epochs), KittiMetric on {args.val_frames} validation frames, '
          f'AP in %, students: mean over seeds {args.seeds}; torch threads '
          f'{torch.get_num_threads()}, total '
          f'{(time.time() - t0) / 60:.1f} min\n' + table + '\n\n' + summary)
    print(f'\ntable: {osp.join(args.work_dir, "results.md")}')


if __name__ == '__main__':
    main()

"""The main demo: real teacher-student distillation on generated data.

1. draw the mini COCO-format detection data set (data/mini);
2. train an RTMDet teacher on all the images, then the 4x smaller RTMDet
   student on a quarter of them twice: alone and with PKD from the teacher
   (configs/zoo/rtmdet_*.py; the zoo's det_pkd family, one seed);
3. evaluate all three with the real COCO bbox metric and print a table
   (bbox mAP, AP50, time per training iteration); plot the training losses.

    python tools/demos/kd_demo.py [--work-dir work_dirs/demo] [--epochs N]
        [--seeds 0 1 2]
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time

import torch
from mmengine.config import Config

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from analysis.plot_losses import plot_losses, read_scalars  # noqa: E402
from train import build_runner  # noqa: E402

import mmkd  # noqa: E402,F401
from mmkd.datasets import generate_mini_data  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# the regime of the results zoo's det_pkd family (tools/zoo.py): a teacher
# trained on all 320 images for 24 epochs, students (4x smaller) that see
# the first 80 images only, for 480 iterations
CONFIGS = {
    'teacher': 'configs/zoo/rtmdet_teacher_24e.py',
    'student': 'configs/zoo/rtmdet_student_quarter.py',
    'student + PKD': 'configs/zoo/rtmdet_student_quarter_pkd.py',
}


def run(name: str, cfg_path: str, work_dir: str, epochs: int,
        options: dict) -> dict:
    cfg = Config.fromfile(osp.join(REPO, cfg_path))
    cfg.work_dir = work_dir
    if epochs:
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs
        cfg.default_hooks.checkpoint.interval = epochs
        for sched in cfg.param_scheduler:  # epoch-based ones end with it
            if sched.get('by_epoch', True):
                sched.end = epochs
                if 'T_max' in sched:
                    sched.T_max = epochs
    cfg.merge_from_dict(options)
    # mmengine keeps one visualizer per name for the whole process: a second
    # runner with mmdet's name ('visualizer') would write its scalars into
    # the first run's folder
    cfg.visualizer.name = f'visualizer_{osp.basename(work_dir)}'
    runner = build_runner(cfg)
    start = time.time()
    runner.train()
    minutes = (time.time() - start) / 60
    metrics = runner.test()
    iter_times = [r['time'] for r in read_scalars(work_dir) if 'time' in r
                  and 'loss' in r]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    print(f'[demo] {name}: {metrics}', flush=True)
    # mmdet's CocoMetric returns no keys when nothing was detected at all
    # (a student after a few iterations): that is 0 mAP
    return dict(mAP=metrics.get('coco/bbox_mAP', 0.0),
                AP50=metrics.get('coco/bbox_mAP_50', 0.0),
                iter_time=statistics.median(iter_times), minutes=minutes,
                ckpt=ckpt)


def work_dir_of(args, name: str, seed: int) -> str:
    base = osp.join(args.work_dir, name.replace(' + ', '_').lower())
    if name == 'teacher' or seed == args.seeds[0]:
        return base
    return f'{base}_seed{seed}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/mini')
    parser.add_argument('--epochs', type=int, default=0,
                        help='override every run\'s epochs (0: configs)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='train the two students with each seed; their '
                        'rows then give the mean and each seed\'s mAP')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (more are slower on a shared '
                        '2-core machine)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    os.environ['MMKD_DATA_ROOT'] = osp.abspath(args.data_root)
    info = generate_mini_data(args.data_root, seed=0)
    print(f'[demo] data in {args.data_root}: {info.get("counts", info)}')

    results = {}  # name -> one result per seed (the teacher: seed 0 only)
    for name, cfg_path in CONFIGS.items():
        for seed in ([0] if name == 'teacher' else args.seeds):
            options = {'randomness.seed': seed}
            if 'PKD' in name:
                options['distill.teacher.checkpoint'] = (
                    results['teacher'][0]['ckpt'])
            results.setdefault(name, []).append(run(
                name, cfg_path, work_dir_of(args, name, seed), args.epochs,
                options))

    several = len(args.seeds) > 1
    rows = ['| model | bbox mAP | AP50 | s / iter (median) | train min |' +
            (' mAP per seed |' if several else ''),
            '| --- | ---: | ---: | ---: | ---: |' + (' --- |' if several
                                                     else '')]
    for name, runs in results.items():
        mean = {k: statistics.mean(r[k] for r in runs)
                for k in ('mAP', 'AP50', 'iter_time', 'minutes')}
        rows.append(f'| {name} | {mean["mAP"]:.3f} | {mean["AP50"]:.3f} | '
                    f'{mean["iter_time"]:.3f} | {mean["minutes"]:.1f} |' +
                    (' ' + ', '.join(f'{r["mAP"]:.3f}' for r in runs) + ' |'
                     if several else ''))
    table = '\n'.join(rows)
    plot = plot_losses(
        {name: work_dir_of(args, name, args.seeds[0]) for name in CONFIGS},
        osp.join(args.work_dir, 'losses.png'),
        keys=['loss', 'loss_cls', 'loss_bbox', 'distill.loss_pkd_fpn0'])
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    print('\nmmkd demo: RTMDet on the generated mini shapes data '
          '(COCO bbox metric, val split' +
          (f'; students: mean over seeds {args.seeds}' if several else '') +
          ')\n' + table)
    print(f'\nloss curves: {plot}\ntable: '
          f'{osp.join(args.work_dir, "results.md")}')


if __name__ == '__main__':
    main()

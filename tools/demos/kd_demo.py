"""The main demo: real teacher-student distillation on generated data.

1. draw the mini COCO-format detection data set (data/mini);
2. train an RTMDet teacher, then the smaller RTMDet student twice: alone and
   with PKD from the teacher (configs/examples/rtmdet_student_pkd_mini.py);
3. evaluate all three with the real COCO bbox metric and print a table
   (bbox mAP, AP50, time per training iteration); plot the training losses.

    python tools/demos/kd_demo.py [--work-dir work_dirs/demo] [--epochs N]
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
CONFIGS = {
    'teacher': 'configs/mini/det/rtmdet_teacher.py',
    'student': 'configs/mini/det/rtmdet_student.py',
    'student + PKD': 'configs/examples/rtmdet_student_pkd_mini.py',
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
    return dict(mAP=metrics['coco/bbox_mAP'], AP50=metrics['coco/bbox_mAP_50'],
                iter_time=statistics.median(iter_times), minutes=minutes,
                ckpt=ckpt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/mini')
    parser.add_argument('--epochs', type=int, default=0,
                        help='override every run\'s epochs (0: configs)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (more are slower on a shared '
                        '2-core machine)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    os.environ['MMKD_DATA_ROOT'] = osp.abspath(args.data_root)
    info = generate_mini_data(args.data_root, seed=0)
    print(f'[demo] data in {args.data_root}: {info.get("counts", info)}')

    results = {}
    for name, cfg_path in CONFIGS.items():
        work_dir = osp.join(args.work_dir, name.replace(' + ', '_').lower())
        options = {}
        if 'PKD' in name:
            options = {'distill.teacher.checkpoint': results['teacher']['ckpt']}
        results[name] = run(name, cfg_path, work_dir, args.epochs, options)

    rows = ['| model | bbox mAP | AP50 | s / iter (median) | train min |',
            '| --- | ---: | ---: | ---: | ---: |']
    for name, r in results.items():
        rows.append(f'| {name} | {r["mAP"]:.3f} | {r["AP50"]:.3f} | '
                    f'{r["iter_time"]:.3f} | {r["minutes"]:.1f} |')
    table = '\n'.join(rows)
    plot = plot_losses(
        {name: osp.join(args.work_dir, name.replace(' + ', '_').lower())
         for name in CONFIGS},
        osp.join(args.work_dir, 'losses.png'),
        keys=['loss', 'loss_cls', 'loss_bbox', 'distill.loss_pkd_fpn0'])
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    print('\nmmkd demo: RTMDet on the generated mini shapes data '
          '(COCO bbox metric, val split)\n' + table)
    print(f'\nloss curves: {plot}\ntable: '
          f'{osp.join(args.work_dir, "results.md")}')


if __name__ == '__main__':
    main()

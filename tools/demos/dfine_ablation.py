"""D-FINE ablation on the generated detection data: DINO, + FDR (own
matches), + FDR (union matches, the official D-FINE criterion without DDF)
and + FDR + GO-LSD, trained with the same budget, evaluated with the COCO
bbox metric.

Rows (``--only`` takes the keys):

- ``dino``: mmdet's DINO (configs/dfine/mini_dino_r18.py);
- ``fdr``: + FDR and the FGL loss, no DDF, each decoder layer's box / FGL
  losses on its own Hungarian matches (mmkd's FDR-only mode,
  ``loss_ddf=None``; mini_dino_r18_fdr.py);
- ``fdr_union``: + FDR and FGL, no DDF, box / FGL losses of every layer on
  the union set of all layers' matches: the official D-FINE criterion, which
  always uses the union, with the DDF weight 0 (``loss_ddf=None,
  union_matching=True``; mini_dino_r18_fdr_union.py);
- ``fdr_golsd``: + FDR + GO-LSD: FGL and DDF on the union set, the full
  D-FINE losses (mini_dino_r18_fdr_golsd.py).

1. draw the mini COCO-format detection data set (320 train / 64 val
   scenes of 160 px, in data/mini_dfine; reused when present);
2. train each row's config for the same number of iterations with the
   same seed, batch and schedule (linear warm-up + cosine);
3. evaluate each on the val split and print a table (bbox mAP, AP50, AP75,
   median seconds per training iteration, minutes) and its legend.

    python tools/demos/dfine_ablation.py [--iters 300] [--batch 4]
        [--img 128] [--queries 30] [--work-dir work_dirs/dfine_ablation]
        [--only dino fdr fdr_union fdr_golsd]

The default budget (a few minutes per model on 2 CPU cores) is far below
what DETR-style detectors need to converge (DINO trains 12+ COCO epochs),
so absolute numbers are small and differences between rows at this budget
are noisy; raise --iters (and use a GPU) for a meaningful comparison.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

from mmengine.config import Config

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from train import build_runner  # noqa: E402

import mmkd  # noqa: E402,F401
import mmkd.models.dfine  # noqa: E402,F401
from mmkd.datasets.mini_data import generate_mini_data  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# key: (row label, config, legend)
VARIANTS = {
    'dino': ('DINO', 'configs/dfine/mini_dino_r18.py',
             "mmdet's DINO (baseline)"),
    'fdr': ('+FDR (own)', 'configs/dfine/mini_dino_r18_fdr.py',
            'FDR + FGL, no DDF; each layer\'s box/FGL losses on its own '
            'matches (mmkd FDR-only mode, loss_ddf=None)'),
    'fdr_union': ('+FDR (union)', 'configs/dfine/mini_dino_r18_fdr_union.py',
                  'FDR + FGL, no DDF; box/FGL losses on the union set of '
                  'all layers\' matches = official D-FINE criterion '
                  'without DDF (loss_ddf=None, union_matching=True)'),
    'fdr_golsd': ('+FDR +GO-LSD', 'configs/dfine/mini_dino_r18_fdr_golsd.py',
                  'FDR + FGL + DDF on the union set (full D-FINE losses)'),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='\n\n'.join(__doc__.split('\n\n')[:3]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-root', default='data/mini_dfine',
                   help='where the detection data are drawn (own folder: '
                   'the generation parameters are pinned below)')
    p.add_argument('--work-dir', default='work_dirs/dfine_ablation')
    p.add_argument('--iters', type=int, default=300,
                   help='training iterations per model')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--img', type=int, default=128,
                   help='training / test image side (px)')
    p.add_argument('--queries', type=int, default=30)
    p.add_argument('--lr', type=float, default=4e-4)
    p.add_argument('--seed', type=int, default=0, help='training seed')
    p.add_argument('--data-seed', type=int, default=0,
                   help='seed of the generated data')
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads (1 keeps timings stable on a '
                   'shared machine)')
    p.add_argument('--only', nargs='+', choices=list(VARIANTS),
                   help='train only these rows (see the legend above)')
    return p.parse_args(argv)


def make_cfg(cfg_path: str, args, work_dir: str) -> Config:
    cfg = Config.fromfile(osp.join(REPO, cfg_path))
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    cfg.randomness = dict(seed=args.seed)
    cfg.model.num_queries = args.queries
    cfg.model.test_cfg.max_per_img = min(100, args.queries * 3)
    root = osp.abspath(args.data_root) + '/'
    size = (args.img, args.img)
    train_pipe = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='RandomResize', scale=size, ratio_range=(0.8, 1.25),
             keep_ratio=True),
        dict(type='RandomCrop', crop_size=size),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')
    ]
    test_pipe = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=size, keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                        'scale_factor'))
    ]
    cfg.train_dataloader.batch_size = args.batch
    cfg.train_dataloader.dataset.data_root = root
    cfg.train_dataloader.dataset.pipeline = train_pipe
    for split in ('val', 'test'):
        dl = cfg[f'{split}_dataloader']
        dl.dataset.data_root = root
        dl.dataset.pipeline = test_pipe
        cfg[f'{split}_evaluator'].ann_file = (
            root + 'annotations/instances_val.json')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=args.iters,
                         val_interval=args.iters)
    cfg.optim_wrapper.optimizer.lr = args.lr
    warmup = max(1, min(50, args.iters // 10))
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=warmup),
        dict(type='CosineAnnealingLR', eta_min=args.lr * 0.1,
             by_epoch=False, begin=0, end=args.iters, T_max=args.iters)
    ]
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=20)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=args.iters, by_epoch=False,
        max_keep_ckpts=1)
    cfg.log_processor = dict(by_epoch=False)
    return cfg


def run(name: str, cfg_path: str, args) -> dict:
    work_dir = osp.join(args.work_dir,
                        osp.splitext(osp.basename(cfg_path))[0])
    runner = build_runner(make_cfg(cfg_path, args, work_dir))
    iter_times, results = [], {}

    from mmengine.hooks import Hook

    class IterTimer(Hook):
        priority = 'VERY_LOW'

        def after_val_epoch(self, runner, metrics=None):
            results.update(metrics or {})

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self._t = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            iter_times.append(time.perf_counter() - self._t)

    runner.register_hook(IterTimer())
    start = time.time()
    runner.train()
    minutes = (time.time() - start) / 60
    print(f'[dfine_ablation] {name}: {results}', flush=True)
    return dict(
        mAP=results.get('coco/bbox_mAP', float('nan')),
        AP50=results.get('coco/bbox_mAP_50', float('nan')),
        AP75=results.get('coco/bbox_mAP_75', float('nan')),
        iter_time=statistics.median(iter_times[5:] or iter_times),
        minutes=minutes)  # training only (the evaluation runs at the end)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    # pinned parameters (not the generator's defaults, which may change):
    # 320 train / 64 val scenes of 160 px, no pose images
    info = generate_mini_data(
        args.data_root,
        seed=args.data_seed,
        num_train=320,
        num_val=64,
        img_size=160,
        num_pose_train=0,
        num_pose_val=0)
    print(f'[dfine_ablation] data: {info["root"]} {info["counts"]}')
    rows = {}
    for key, (name, cfg_path, _) in VARIANTS.items():
        if args.only and key not in args.only:
            continue
        rows[key] = run(name, cfg_path, args)
    print(f'\nD-FINE ablation on mmkd mini shapes (val), {args.iters} iters '
          f'x batch {args.batch}, {args.img}px, {args.queries} queries, '
          f'seed {args.seed}, {args.threads or "default"} torch thread(s)')
    print(f'{"model":<14}{"bbox mAP":>9}{"AP50":>7}{"AP75":>7}'
          f'{"s/iter":>8}{"min":>6}')
    for key, r in rows.items():
        name = VARIANTS[key][0]
        print(f'{name:<14}{r["mAP"]:>9.3f}{r["AP50"]:>7.3f}{r["AP75"]:>7.3f}'
              f'{r["iter_time"]:>8.2f}{r["minutes"]:>6.1f}')
    print()
    for key in rows:
        name, _, legend = VARIANTS[key]
        print(f'{name:<14}{legend}')
    return rows


if __name__ == '__main__':
    main()

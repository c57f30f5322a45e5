#!/usr/bin/env python
"""The training cost of self-distillation against the plain model, side by
side in one run.

For each recipe, the zoo's plain config and its self-distilled twin (the
same model, the recipe inherited) are built with the same seed and their
``train_step`` on one batch (preprocessing, forward, losses, backward,
optimizer step) is timed interleaved (plain, self, self, plain, ...) so
that load from other processes hits both alike. Medians over ``--iters``
after ``--warmup``. Goals (issue 23): PS-KD and USKD <= 1.05 x the plain
step (their extra work is a gather, a few soft-label ops and, for USKD, one
linear layer); BYOT and DSD cost what their exits and heads compute.

    python benchmarks/self_distill_cost.py               # every recipe
    python benchmarks/self_distill_cost.py --recipes pskd uskd --iters 50
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

ZOO = osp.join(REPO, 'configs/zoo')
CLS_PLAIN = f'{ZOO}/resnet18_cifar_student_quarter.py'
#: recipe -> (scope, plain config, self-distilled config, data)
RECIPES = dict(
    pskd=('mmpretrain', CLS_PLAIN,
          f'{ZOO}/resnet18_cifar_student_quarter_pskd.py', 'cls'),
    uskd=('mmpretrain', CLS_PLAIN,
          f'{ZOO}/resnet18_cifar_student_quarter_uskd.py', 'cls'),
    byot=('mmpretrain', CLS_PLAIN,
          f'{ZOO}/resnet18_cifar_student_quarter_byot.py', 'cls'),
    dsd=('mmseg', f'{ZOO}/unet_student.py', f'{ZOO}/unet_student_dsd.py',
         'seg'),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--recipes', nargs='+', default=list(RECIPES),
                   choices=list(RECIPES))
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads (default 1)')
    p.add_argument('--work-dir', default=None,
                   help='the mini data (default: a temp dir)')
    return p.parse_args(argv)


def make_data(root: str, data: str) -> None:
    from mmkd.datasets import generate_mini_cls, generate_mini_data
    if data == 'cls':
        generate_mini_cls(osp.join(root, 'cls'), num_train=64, num_val=8)
    else:
        generate_mini_data(root, num_train=16, num_val=2, num_pose_train=2,
                           num_pose_val=2)


def build(recipe: str):
    """-> (plain step, self-distilled step), both models seeded alike."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import Runner

    from mmkd.models import DistillModel
    from mmkd.models.teacher import load_config
    scope, plain_cfg, self_cfg, _ = RECIPES[recipe]
    init_default_scope(scope)
    plain_cfg = load_config(plain_cfg, 'train')
    self_cfg = load_config(self_cfg, 'train')
    loader = dict(plain_cfg.train_dataloader)
    loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    batch = next(iter(Runner.build_dataloader(loader, seed=0)))

    torch.manual_seed(1)
    plain = MODELS.build(plain_cfg.model)
    plain.init_weights()
    plain.train()
    torch.manual_seed(1)
    distill = {k: v for k, v in self_cfg.distill.items()
               if k in ('self_distill', 'losses', 'student_gt_loss',
                        'freeze')}
    model = DistillModel(student=self_cfg.model, **distill)
    model.init_weights()
    model.setup(batch)
    model.train()
    plain_optim = build_optim_wrapper(plain, plain_cfg.optim_wrapper)
    self_optim = build_optim_wrapper(model, self_cfg.optim_wrapper)
    self_optim.optimizer.add_param_group(dict(params=[
        p for p in model.distill_modules.parameters() if p.requires_grad]))
    return (lambda: plain.train_step(batch, plain_optim),
            lambda: model.train_step(batch, self_optim))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work_dir or tmp
        os.environ['MMKD_DATA_ROOT'] = root
        rows = []
        for recipe in args.recipes:
            make_data(root, RECIPES[recipe][3])
            plain, self_distilled = build(recipe)
            for _ in range(args.warmup):
                plain()
                self_distilled()
            times = dict(plain=[], self=[])
            for i in range(args.iters):
                order = (('plain', plain), ('self', self_distilled))
                for name, fn in order if i % 2 == 0 else order[::-1]:
                    times[name].append(timed(fn))
            p = statistics.median(times['plain'])
            s = statistics.median(times['self'])
            rows.append((recipe, p, s))
            print(f'{recipe}: plain {p * 1e3:.1f} ms, self-distilled '
                  f'{s * 1e3:.1f} ms, ratio {s / p:.3f}', flush=True)
    print('\n| recipe | plain ms/step | self-distilled ms/step | ratio |')
    print('| --- | ---: | ---: | ---: |')
    for recipe, p, s in rows:
        print(f'| {recipe} | {p * 1e3:.1f} | {s * 1e3:.1f} | {s / p:.3f} |')


if __name__ == '__main__':
    main()

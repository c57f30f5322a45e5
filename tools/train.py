"""Train any mmdet/mmpose/mmseg config, with distillation when the config
has a ``distill`` key (e.g. inherits an ``mmkd::distill/*.py`` recipe).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmkd  # noqa: F401  (registers the distillation runner and models)
from mmkd.engine.distributed import finish_distributed
from mmkd.models.teacher import load_config as load_any_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train (and distill) a model')
    parser.add_argument(
        'config', help='train config: a file path or a scoped path such as '
        'mmkd::dfine/dino_fdr_golsd.py or mmdet::rtmdet/x.py')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint of the work '
        'dir when no CKPT is given')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_runner(cfg: Config) -> Runner:
    """``RUNNERS.build`` when the config names a runner (the mmkd recipes
    name ``mmkd.DistillRunner``), else a DistillRunner, which trains plain
    configs as mmengine's Runner does (and under torchrun on the CPU)."""
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = mmkd.DistillRunner.from_cfg(cfg)
    if not isinstance(runner, mmkd.DistillRunner):
        # checkpoints that torch>=2.6's weights-only torch.load can read
        runner.register_hook(mmkd.WeightsOnlyCheckpointHook())
        runner.register_hook(mmkd.RNGStateHook())  # exact --resume
    return runner


def load_config(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with the command line's options, the
    launcher and the work dir (default ``work_dirs/<config name>``)."""
    cfg = load_any_config(args.config, 'train')  # a path or 'mmdet::x.py'
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(args.config.split('::')[-1]))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    build_runner(cfg).train()
    finish_distributed()


if __name__ == '__main__':
    main()

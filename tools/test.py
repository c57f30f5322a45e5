"""Evaluate a checkpoint with a config. A distillation config evaluates its
student and never builds the teacher; the checkpoint of a distilled student
also loads into the plain student config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.fileio import dump

import mmkd  # noqa: F401  (registers the distillation runner and models)
from mmkd.engine.distributed import finish_distributed
from train import build_runner, load_config  # noqa: E402  (tools/ on path)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument(
        'config', help='test config: a file path or a scoped path such as '
        'mmkd::dfine/dino_fdr_golsd.py')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='dump the metrics to this json file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint {args.checkpoint!r} not found.')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    metrics = build_runner(cfg).test()
    if args.out:
        dump(metrics, args.out)
    finish_distributed()


if __name__ == '__main__':
    main()

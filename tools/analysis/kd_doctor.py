"""The KD doctor: what each distillation loss of a config does to the
student, over a few training iterations, with plain-word warnings.

    python tools/analysis/kd_doctor.py CONFIG [STUDENT_CKPT] [--iters 5] \
        [--out-dir kd_doctor] [--eval-images 8] [--cfg-options k=v ...]

Nothing is written to the config's work dir and no checkpoint is saved
(the iterations run in a temporary work dir). Prints one row per
distillation loss (value and ratio to the task loss; gradient norm on the
student parameters the task loss also reaches, its ratio to the task
gradient and their cosine; feature statistics), the teacher's and the
student's metric on the first val images with ``--eval-images``, the
warnings, and writes ``OUT_DIR/kd_doctor.png`` (gradient norms per loss
over the iterations beside the task loss's).

A config without ``distill`` whose model distils itself (D-FINE's
``mmkd.DFineDINO``: GO-LSD's DDF terms of its loss dict) gets one row per
such term, measured against the sum of the other terms; no teacher, so no
``--eval-images``.
"""
import argparse

from mmengine.config import DictAction

import mmkd  # noqa: F401  (registers the distillation runner and models)
from mmkd.analysis.doctor_run import run_doctor
from mmkd.models.teacher import load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='distillation (or D-FINE) config: a '
                        'path or a scoped path (mmkd::examples/x.py)')
    parser.add_argument('checkpoint', nargs='?',
                        help='student weights to start from (load_from)')
    parser.add_argument('--iters', type=int, default=5,
                        help='training iterations to run (default 5)')
    parser.add_argument('--out-dir', default='kd_doctor',
                        help='where kd_doctor.png goes (default kd_doctor)')
    parser.add_argument('--eval-images', type=int, default=0,
                        help='evaluate teacher and student on the first N '
                        'val images first (default 0: skip)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, 'distillation')
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    result = run_doctor(cfg, args.checkpoint, args.iters, args.out_dir,
                        args.eval_images)
    print(result.report())


if __name__ == '__main__':
    main()

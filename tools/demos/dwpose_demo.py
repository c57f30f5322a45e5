"""DWPose two-stage distillation on generated keypoint data.

1. draw the mini COCO-keypoint data (stick figures, 17 COCO keypoints);
2. train the teacher and the RTMPose-t student alone
   (configs/mini/pose/rtmpose_{teacher,student}.py). The default teacher is
   an RTMPose-t trained twice as long (``--teacher t``): trained from
   scratch for a few hundred iterations, mmpose's RTMPose-s stayed on the
   initial plateau (predicting the mean keypoint distribution, AP ~0.02) in
   11 of 12 runs we tried (lr 3e-4..4e-3, batch 8..32, 4 seeds, wider SimCC
   targets; the 12th reached AP 0.11 after 400 iterations at batch 16),
   while RTMPose-t leaves it after ~120 iterations.
   ``--teacher s`` uses RTMPose-s (as in DWPose: a bigger teacher with an
   align conv in the feature loss) given enough epochs;
3. DWPose stage 1: the student distilled from the teacher
   (configs/examples/rtmpose_t_dwpose_stage1_mini.py);
4. DWPose stage 2: head-aware self-KD of the stage-1 student, ~20% of the
   stage-1 epochs (configs/examples/rtmpose_t_dwpose_stage2_mini.py);
5. evaluate every checkpoint with the *plain* config of its architecture
   (mmpose's CocoMetric: real COCO keypoint AP/AR with OKS, val split) and
   print one table.

    python tools/demos/dwpose_demo.py [--work-dir work_dirs/dwpose_demo]
        [--epochs 20] [--stage2-epochs 4] [--teacher t|s] [--teacher-epochs 40]
        [--num-train 320] [--threads 1]

A phase whose checkpoint already exists in the work dir is not retrained
(``--retrain`` to redo everything).
"""
import argparse
import contextlib
import json
import logging
import os
import os.path as osp
import statistics
import sys
import time
import warnings

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from train import build_runner  # noqa: E402

import mmkd  # noqa: E402,F401
# the DWPose losses register on import (whether or not the package's
# losses/__init__.py lists them)
import mmkd.models.losses.dwpose_feature_loss  # noqa: E402,F401
import mmkd.models.losses.simcc_logit_loss  # noqa: E402,F401
from mmkd.datasets import generate_mini_data  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEACHER_S = osp.join(REPO, 'configs/mini/pose/rtmpose_teacher.py')
STUDENT = osp.join(REPO, 'configs/mini/pose/rtmpose_student.py')
STAGE1 = osp.join(REPO, 'configs/examples/rtmpose_t_dwpose_stage1_mini.py')
STAGE2 = osp.join(REPO, 'configs/examples/rtmpose_t_dwpose_stage2_mini.py')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work-dir', default='work_dirs/dwpose_demo')
    p.add_argument('--data-root', default=None,
                   help='default: <work-dir>/data')
    p.add_argument('--epochs', type=int, default=20,
                   help='epochs of the teacher, the plain student and stage 1')
    p.add_argument('--teacher', choices=['t', 's'], default='t',
                   help='teacher architecture: RTMPose-t (trained longer) '
                   'or RTMPose-s')
    p.add_argument('--teacher-epochs', type=int, default=None,
                   help='default: 2 x --epochs')
    p.add_argument('--stage2-epochs', type=int, default=None,
                   help='default: 20%% of --epochs (DWPose: 60 of 270)')
    p.add_argument('--num-train', type=int, default=320,
                   help='training images (about 1.8 persons each)')
    p.add_argument('--num-val', type=int, default=64)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads (1 is the fastest on a busy '
                   'shared 2-core machine)')
    p.add_argument('--no-ablation', action='store_true',
                   help='skip the stage 1 + 2 run without the feature loss')
    p.add_argument('--mmpose-reference', action='store_true',
                   help="also train mmpose's own DWPoseDistiller (stage 1, "
                   'as mmpose ships it) on the same pair')
    p.add_argument('--retrain', action='store_true')
    return p.parse_args()


def last_checkpoint(work_dir):
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.exists(path):
        return None
    with open(path) as f:
        ckpt = f.read().strip()
    return ckpt if osp.exists(ckpt) else None


def schedule(epochs, warmup_iters=50):
    return [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
             end=warmup_iters),
        dict(type='CosineAnnealingLR', eta_min=1e-3 * 0.05,
             begin=epochs // 2, end=epochs, T_max=epochs - epochs // 2,
             by_epoch=True, convert_to_iter_based=True),
    ]


def train(name, cfg_path, work_dir, epochs, args, options=None, edit=None):
    """Train one phase (unless its checkpoint exists); -> (checkpoint,
    minutes, median seconds per iteration). ``edit(cfg)`` changes the config
    beyond what ``options`` can."""
    ckpt = last_checkpoint(work_dir)
    stats = osp.join(work_dir, 'demo_stats.json')
    if ckpt and not args.retrain and osp.exists(stats):
        print(f'[demo] {name}: reusing {ckpt}', flush=True)
        with open(stats) as f:
            s = json.load(f)
        return ckpt, s['minutes'], s['iter_time']
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs,
                         val_interval=epochs + 1)  # evaluated below
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_dataloader.batch_size = args.batch_size
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=epochs, max_keep_ckpts=1,
        save_last=True)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=20)
    cfg.merge_from_dict(options or {})
    if edit is not None:
        edit(cfg)
    if 'param_scheduler' not in (options or {}):
        cfg.param_scheduler = schedule(epochs)
    cfg.log_level = 'WARNING'
    runner = build_runner(cfg)
    start = time.time()
    runner.train()
    minutes = (time.time() - start) / 60
    iter_time = statistics.median(
        runner.message_hub.get_scalar('train/time').data[0].tolist())
    ckpt = last_checkpoint(work_dir)
    if cfg.model.type == 'DWPoseDistiller':  # keep its student only
        state = torch.load(ckpt, map_location='cpu', weights_only=False)
        state['state_dict'] = {
            k[len('student.'):]: v for k, v in state['state_dict'].items()
            if k.startswith('student.')}
        ckpt = osp.join(work_dir, 'student_only.pth')
        torch.save(state, ckpt)
        with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
            f.write(ckpt)
    with open(stats, 'w') as f:
        json.dump(dict(minutes=minutes, iter_time=iter_time), f)
    print(f'[demo] {name}: trained in {minutes:.1f} min -> {ckpt}',
          flush=True)
    return ckpt, minutes, iter_time


def stage2_options(stage1_ckpt, epochs):
    return {
        'distill.teacher.checkpoint': stage1_ckpt,
        'distill.student_init.checkpoint': stage1_ckpt,
        'param_scheduler': schedule(epochs, warmup_iters=20),
    }


def drop_feature_loss(cfg):
    del cfg.distill.losses['fea']
    cfg.distill.schedules = [
        dict(type='LinearDecayWeight', losses=['logit_x', 'logit_y'])]


def mmpose_distiller(cfg, teacher_cfg, teacher_ckpt):
    """The student config's data and schedule around mmpose 1.3.2's own
    DWPoseDistiller with DWPose's stage-1 losses (its teacher BatchNorm
    goes back to train mode under ``model.train()``, as shipped)."""
    student = Config.fromfile(STUDENT).model
    teacher = Config.fromfile(teacher_cfg).model
    cfg.model = ConfigDict(
        type='DWPoseDistiller', two_dis=False, teacher_cfg=teacher_cfg,
        student_cfg=STUDENT, teacher_pretrained=teacher_ckpt,
        data_preprocessor=student.data_preprocessor,
        distill_cfg=[
            dict(methods=[dict(
                type='FeaLoss', name='loss_fea', use_this=True,
                # CSPNeXt's last stage: 1024 x widen_factor channels
                student_channels=int(1024 * student.backbone.widen_factor),
                teacher_channels=int(1024 * teacher.backbone.widen_factor),
                alpha_fea=7e-5)]),
            dict(methods=[dict(type='KDLoss', name='loss_logit',
                               use_this=True, weight=0.1)])])


def evaluate(name, plain_cfg, ckpt, work_dir):
    """COCO keypoint metrics of ``ckpt`` loaded into the plain config."""
    cfg = Config.fromfile(plain_cfg)
    cfg.work_dir = osp.join(work_dir, 'eval')
    cfg.load_from = ckpt
    cfg.log_level = 'WARNING'
    with open(os.devnull, 'w') as null, contextlib.redirect_stdout(null):
        metrics = build_runner(cfg).test()  # quiet: COCO eval tables
    print(f'[demo] {name}: AP {metrics["coco/AP"]:.3f}', flush=True)
    return metrics


def main():
    args = parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(args.threads)
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    stage2_epochs = args.stage2_epochs or max(1, round(args.epochs * 0.2))
    data_root = osp.abspath(args.data_root or osp.join(args.work_dir, 'data'))
    os.environ['MMKD_DATA_ROOT'] = data_root
    info = generate_mini_data(data_root, seed=0, num_train=16, num_val=8,
                              num_pose_train=args.num_train,
                              num_pose_val=args.num_val)
    c = info['counts']
    print(f'[demo] data in {data_root}: {c["train"]["pose_instances"]} train'
          f' / {c["val"]["pose_instances"]} val persons', flush=True)
    teacher_epochs = args.teacher_epochs or 2 * args.epochs
    teacher_cfg = STUDENT if args.teacher == 't' else TEACHER_S
    tag = f'{args.teacher}{teacher_epochs}'
    wd = {k: osp.abspath(osp.join(args.work_dir, d)) for k, d in (
        ('teacher', f'teacher_{tag}'), ('student', 'student'),
        ('stage1', f'stage1_from_{tag}'), ('stage2', f'stage2_from_{tag}'))}
    teacher_name = f'teacher RTMPose-{args.teacher}'

    runs = {}
    runs['teacher'] = train(teacher_name, teacher_cfg, wd['teacher'],
                            teacher_epochs, args)
    runs['student'] = train('student RTMPose-t', STUDENT, wd['student'],
                            args.epochs, args)
    runs['stage1'] = train(
        'DWPose stage 1', STAGE1, wd['stage1'], args.epochs, args,
        {'distill.teacher.config': teacher_cfg,
         'distill.teacher.checkpoint': runs['teacher'][0]})
    runs['stage2'] = train(
        'DWPose stage 2', STAGE2, wd['stage2'], stage2_epochs, args,
        stage2_options(runs['stage1'][0], stage2_epochs))
    rows = [
        (teacher_name, teacher_cfg, 'teacher', teacher_epochs),
        ('student RTMPose-t, plain', STUDENT, 'student', args.epochs),
        ('RTMPose-t after DWPose stage 1', STUDENT, 'stage1', args.epochs),
        ('RTMPose-t after stage 2', STUDENT, 'stage2',
         f'+{stage2_epochs}'),
    ]

    if not args.no_ablation:  # the same two stages without the feature loss
        for k in ('stage1_logit', 'stage2_logit'):
            wd[k] = wd[k[:6]] + '_logit_only'
        runs['stage1_logit'] = train(
            'DWPose stage 1, logit loss only', STAGE1, wd['stage1_logit'],
            args.epochs, args,
            {'distill.teacher.config': teacher_cfg,
             'distill.teacher.checkpoint': runs['teacher'][0]},
            edit=drop_feature_loss)
        runs['stage2_logit'] = train(
            'DWPose stage 2 (logit-only stage 1)', STAGE2,
            wd['stage2_logit'], stage2_epochs, args,
            stage2_options(runs['stage1_logit'][0], stage2_epochs))
        rows += [('RTMPose-t after stage 1, logit loss only', STUDENT,
                  'stage1_logit', args.epochs),
                 ('RTMPose-t after stage 2 of that', STUDENT, 'stage2_logit',
                  f'+{stage2_epochs}')]

    if args.mmpose_reference:
        wd['mmpose'] = osp.join(osp.abspath(args.work_dir),
                                f'mmpose_stage1_from_{tag}')
        runs['mmpose'] = train(
            "mmpose's DWPoseDistiller stage 1", STUDENT, wd['mmpose'],
            args.epochs, args,
            edit=lambda cfg: mmpose_distiller(cfg, teacher_cfg,
                                              runs['teacher'][0]))
        rows.append(("RTMPose-t after mmpose's DWPoseDistiller stage 1",
                     STUDENT, 'mmpose', args.epochs))
    table = ['| model | epochs | AP | AP50 | AP75 | AR | s / iter | '
             'train min |', '| --- | ---: | ---: | ---: | ---: | ---: | '
             '---: | ---: |']
    results = {}
    for label, plain_cfg, key, epochs in rows:
        ckpt, minutes, iter_time = runs[key]
        m = evaluate(label, plain_cfg, ckpt, wd[key])
        results[key] = dict(metrics=m, checkpoint=ckpt, minutes=minutes,
                            iter_time=iter_time)
        table.append(
            f'| {label} | {epochs} | {m["coco/AP"]:.3f} | '
            f'{m["coco/AP .5"]:.3f} | {m["coco/AP .75"]:.3f} | '
            f'{m["coco/AR"]:.3f} | {iter_time:.3f} | {minutes:.1f} |')
    table = '\n'.join(table)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1, default=float)
    print(f'\nDWPose on the generated keypoint data '
          f'({c["train"]["pose_instances"]} train / '
          f'{c["val"]["pose_instances"]} val persons; COCO keypoint '
          f'AP with OKS on val, ground-truth boxes; each checkpoint loaded '
          f'into the plain RTMPose config)\n{table}')


if __name__ == '__main__':
    main()

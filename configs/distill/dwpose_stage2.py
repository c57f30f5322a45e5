# DWPose stage 2: head-aware self-KD of an RTMPose model.
# The teacher is the stage-1 student (same config); the student takes the
# teacher's backbone (frozen, kept in eval mode, BatchNorm included), gets a
# freshly initialised head and learns from the teacher's SimCC logits only
# (weight 1, no decay, no ground-truth loss). DWPose trains it for ~20% of
# the stage-1 schedule (60 of 270 epochs): set train_cfg.max_epochs in your
# config. The checkpoint it writes is a plain RTMPose checkpoint (teacher
# backbone + new head) for the plain student config: no conversion script.
#
# Usage:
#   _base_ = ['my_rtmpose-m.py', 'mmkd::distill/dwpose_stage2.py']
#   stage1 = 'work_dirs/stage1/epoch_270.pth'
#   distill = dict(teacher=dict(config='my_rtmpose-m.py', checkpoint=stage1),
#                  student_init=dict(checkpoint=stage1))
#   train_cfg = dict(max_epochs=60)
#
# RTMPose has no neck; for a pose model with one add 'neck' to `freeze`
# ('neck.' is already in the loaded prefixes).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    losses=dict(
        logit_x=dict(
            type='SimCCLogitLoss',
            student='head.cls_x',
            teacher='head.cls_x',
            beta=10.,
            loss_weight=1.0),
        logit_y=dict(
            type='SimCCLogitLoss',
            student='head.cls_y',
            teacher='head.cls_y',
            beta=10.,
            loss_weight=1.0),
    ),
    student_gt_loss=False,
    freeze=['backbone'],
    student_init=dict(prefixes=['backbone.', 'neck.']),
)

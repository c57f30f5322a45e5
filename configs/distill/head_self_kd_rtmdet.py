# Head-aware self-KD (DWPose stage 2 generalised) for mmdet's RTMDet dense
# head (RTMDetSepBNHead, 3 levels, strides 8/16/32).
# The teacher is the trained detector itself (same config); the student takes
# its backbone and neck (frozen, eval mode), re-initialises bbox_head and
# learns from the teacher's raw head outputs only (no GT loss):
# - cls<i>: per-class sigmoid KL on `rtm_cls` logits of level i;
# - reg<i>: L1 on `rtm_reg` distance maps (stride units) of level i.
# The result is a plain RTMDet checkpoint for the same config.
#
# Usage:
#   _base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
#             'mmkd::distill/head_self_kd_rtmdet.py']
#   trained = 'work_dirs/rtmdet_tiny/epoch_300.pth'
#   distill = dict(teacher=dict(
#       config='mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
#       checkpoint=trained),
#       student_init=dict(checkpoint=trained))
#   train_cfg = dict(max_epochs=60)   # a fraction of the original schedule
runner_type = 'mmkd.DistillRunner'
distill = dict(
    losses={
        **{
            f'cls{i}': dict(
                type='SigmoidKLLoss',
                student=f'bbox_head.rtm_cls.{i}',
                teacher=f'bbox_head.rtm_cls.{i}',
                loss_weight=1.0)
            for i in range(3)
        },
        **{
            f'reg{i}': dict(
                type='DenseRegKDLoss',
                student=f'bbox_head.rtm_reg.{i}',
                teacher=f'bbox_head.rtm_reg.{i}',
                loss_weight=1.0)
            for i in range(3)
        },
    },
    student_gt_loss=False,
    freeze=['backbone', 'neck'],
    student_init=dict(prefixes=['backbone.', 'neck.']),
)

# Head-aware self-KD (DWPose stage 2 generalised) for an mmseg
# EncoderDecoder's decode head.
# The teacher is the trained segmentor itself (same config); the student
# takes its backbone (frozen, eval mode), re-initialises the decode head and
# learns from the teacher's class logits (`decode_head.conv_seg`, before
# upsampling) with a per-pixel KL (mmkd's KDLoss: tau^2 KL of the class
# softmax, averaged over pixels) only (no GT loss). The auxiliary head, used
# only for training, is left as initialised. The result is a plain mmseg
# checkpoint for the same config.
#
# Usage:
#   _base_ = ['my_segmentor.py', 'mmkd::distill/head_self_kd_seg.py']
#   trained = 'work_dirs/my_segmentor/iter_80000.pth'
#   distill = dict(teacher=dict(config='my_segmentor.py', checkpoint=trained),
#                  student_init=dict(checkpoint=trained))
# For a segmentor with a neck add 'neck' to `freeze`.
runner_type = 'mmkd.DistillRunner'
distill = dict(
    losses=dict(
        seg=dict(
            type='KDLoss',
            student='decode_head.conv_seg',
            teacher='decode_head.conv_seg',
            tau=1.0,
            loss_weight=1.0)),
    student_gt_loss=False,
    freeze=['backbone'],
    student_init=dict(prefixes=['backbone.', 'neck.']),
)

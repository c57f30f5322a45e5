# The results zoo's repaired LD teacher (issue 21): the GFL teacher of
# gfl_teacher_24e.py with GroupNorm (8 groups) instead of BatchNorm in the
# backbone and with GroupNorm in the FPN (mmdet's FPN has no norm by
# default), nothing else changed. The head keeps mmdet's GroupNorm.
# Why: the BatchNorm teacher's FPN outputs had a standard deviation of 129
# to 2400 against the student's 0.4 to 1.3 (its BatchNorm statistics from
# 8 images a batch, the FPN free to grow without a norm), the RTMDet
# teachers' blow-ups had the same cause (see rtmdet_teacher_24e_gn.py).
_base_ = ['./gfl_teacher_24e.py']

norm_cfg = dict(type='GN', num_groups=8, requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg),
    neck=dict(norm_cfg=norm_cfg))

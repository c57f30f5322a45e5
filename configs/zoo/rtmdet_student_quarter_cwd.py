# The results zoo's RTMDet student with CWD on its three neck outputs
# (tools/zoo.py det_cwd): rtmdet_student_quarter.py, unchanged, with mmkd's
# FPN recipe (configs/distill/cwd_fpn.py) on the three levels RTMDet has,
# taught by the det_pkd family's teacher (rtmdet_teacher_24e.py; the
# families share the teacher and the plain students).
# Loss weight 1 per level instead of the recipe's 10 (RetinaNet on COCO): at
# 10 the KD doctor measured, on the first batch of seed 0, CWD gradients
# 5.9x, 8.4x and 17x the task gradient (losses 40x, 12x and 10x the task
# loss), the regime in which PKD at its paper weight lost mAP here (see
# rtmdet_student_quarter_pkd.py).
_base_ = ['./rtmdet_student_quarter.py', 'mmkd::distill/cwd_fpn.py']

distill = dict(
    _delete_=True,
    teacher=dict(
        config='mmkd::zoo/rtmdet_teacher_24e.py',
        checkpoint='work_dirs/zoo/det_pkd/teacher/epoch_24.pth'),
    losses={
        k: dict(v, loss_weight=1.0)
        for k, v in _base_.distill.losses.items()
        if k in ('cwd_fpn0', 'cwd_fpn1', 'cwd_fpn2')
    })

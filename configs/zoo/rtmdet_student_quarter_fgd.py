# The results zoo's RTMDet student with FGD on its three neck outputs
# (tools/zoo.py det_fgd): rtmdet_student_quarter.py, unchanged, with mmkd's
# FPN recipe (configs/distill/fgd_fpn.py) at its paper settings on the
# three levels RTMDet has, taught by the det_pkd family's teacher
# (rtmdet_teacher_24e.py; the families share the teacher and the plain
# students).
_base_ = ['./rtmdet_student_quarter.py', 'mmkd::distill/fgd_fpn.py']

distill = dict(
    _delete_=True,
    teacher=dict(
        config='mmkd::zoo/rtmdet_teacher_24e.py',
        checkpoint='work_dirs/zoo/det_pkd/teacher/epoch_24.pth'),
    losses={
        k: v
        for k, v in _base_.distill.losses.items()
        if k in ('fgd_fpn0', 'fgd_fpn1', 'fgd_fpn2')
    })

# The results zoo's RTMDet student with MGD on its three neck outputs
# (tools/zoo.py det_mgd): rtmdet_student_quarter.py, unchanged, with mmkd's
# FPN recipe (configs/distill/mgd_fpn.py) at its paper settings (alpha 2e-5,
# mask ratio 0.65) on the three levels RTMDet has, taught by the det_pkd
# family's teacher (rtmdet_teacher_24e.py; the families share the teacher
# and the plain students). The KD doctor's gradients at the start: 0.35x
# to 0.58x the task gradient (MGD's generator sits between the student and
# the loss), no weight warning.
_base_ = ['./rtmdet_student_quarter.py', 'mmkd::distill/mgd_fpn.py']

distill = dict(
    _delete_=True,
    teacher=dict(
        config='mmkd::zoo/rtmdet_teacher_24e.py',
        checkpoint='work_dirs/zoo/det_pkd/teacher/epoch_24.pth'),
    losses={
        k: v
        for k, v in _base_.distill.losses.items()
        if k in ('mgd_fpn0', 'mgd_fpn1', 'mgd_fpn2')
    })

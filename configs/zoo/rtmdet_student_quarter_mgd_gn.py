# rtmdet_student_quarter_mgd.py taught by the GroupNorm teacher
# (rtmdet_teacher_24e_gn.py; tools/zoo.py det_mgd_gn), nothing else changed.
_base_ = ['./rtmdet_student_quarter_mgd.py']

distill = dict(
    teacher=dict(
        config='mmkd::zoo/rtmdet_teacher_24e_gn.py',
        checkpoint='work_dirs/zoo/det_pkd_gn/teacher/epoch_24.pth'))

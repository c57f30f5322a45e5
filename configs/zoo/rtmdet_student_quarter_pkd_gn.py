# rtmdet_student_quarter_pkd.py taught by the GroupNorm teacher
# (rtmdet_teacher_24e_gn.py; tools/zoo.py det_pkd_gn), nothing else changed.
_base_ = ['./rtmdet_student_quarter_pkd.py']

distill = dict(
    teacher=dict(
        config='mmkd::zoo/rtmdet_teacher_24e_gn.py',
        checkpoint='work_dirs/zoo/det_pkd_gn/teacher/epoch_24.pth'))

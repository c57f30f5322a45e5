# The results zoo's distilled GFL student with the GroupNorm teacher
# (tools/zoo.py det_ld_gn): gfl_student_quarter_ld.py, unchanged, taught by
# gfl_teacher_24e_gn.py.
_base_ = ['./gfl_student_quarter_ld.py']

distill = dict(
    teacher=dict(
        config='mmkd::zoo/gfl_teacher_24e_gn.py',
        checkpoint='work_dirs/zoo/det_ld_gn/teacher/epoch_24.pth'))

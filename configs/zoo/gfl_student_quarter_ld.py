# The results zoo's distilled GFL student (tools/zoo.py det_ld):
# gfl_student_quarter.py, unchanged, with mmkd's LD recipe as published
# (main region: the student's ATSS positives; valuable localization region;
# T 10, weights 0.25), taught by gfl_teacher_24e.py.
_base_ = ['./gfl_student_quarter.py', 'mmkd::distill/ld_gfl.py']

distill = dict(
    teacher=dict(
        config='mmkd::zoo/gfl_teacher_24e.py',
        checkpoint='work_dirs/zoo/det_ld/teacher/epoch_24.pth'))

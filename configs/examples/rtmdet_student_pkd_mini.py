# A complete KD config, the way a user writes one: the student config is
# inherited unchanged, the recipe adds PKD on the neck outputs, and the
# teacher is named with its config and checkpoint.
#   python tools/train.py configs/mini/det/rtmdet_teacher.py   # the teacher
#   python tools/train.py configs/examples/rtmdet_student_pkd_mini.py
_base_ = [
    '../mini/det/rtmdet_student.py',
    'mmkd::distill/rtmdet_pkd_fpn.py',
]
distill = dict(
    teacher=dict(
        config='mmkd::mini/det/rtmdet_teacher.py',
        checkpoint='work_dirs/rtmdet_teacher/epoch_12.pth'))

# The project's student distilled with an mmkd recipe; model dict untouched
# (the student's custom_imports of `shapes_det` are inherited as they are).
# The teacher: `python tools/train.py configs/mini/det/rtmdet_teacher.py`
# from the repository root.
_base_ = ['./rtmdet_adapter_student.py', 'mmkd::distill/rtmdet_pkd_fpn.py']
distill = dict(
    teacher=dict(
        config='mmkd::mini/det/rtmdet_teacher.py',
        checkpoint='../../work_dirs/rtmdet_teacher/epoch_12.pth'))

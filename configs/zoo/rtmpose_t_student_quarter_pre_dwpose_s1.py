# The results zoo's pose student with DWPose stage 1, starting from a
# pretrained backbone (tools/zoo.py pose_dwpose_s1_pre):
# rtmpose_t_student_quarter_pre.py with the same distillation as
# rtmpose_t_student_quarter_dwpose_s1.py (DWPose's settings), taught by the
# pose_dwpose_s1 family's teacher.
_base_ = [
    './rtmpose_t_student_quarter_pre.py',
    'mmkd::distill/dwpose_stage1.py'
]

distill = dict(
    teacher=dict(
        config='mmkd::zoo/rtmpose_t_teacher_40e.py',
        checkpoint='work_dirs/zoo/pose_dwpose_s1/teacher/epoch_40.pth'))

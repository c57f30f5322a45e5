# The results zoo's pose student with DWPose stage 1 (tools/zoo.py
# pose_dwpose_s1): rtmpose_t_student_quarter.py, unchanged, with
# mmkd's recipe at DWPose's settings (feature loss 7e-5 on the last backbone
# output, SimCC logit loss 0.1, both decaying linearly to 0), taught by
# rtmpose_t_teacher_40e.py.
_base_ = [
    './rtmpose_t_student_quarter.py',
    'mmkd::distill/dwpose_stage1.py'
]

distill = dict(
    teacher=dict(
        config='mmkd::zoo/rtmpose_t_teacher_40e.py',
        checkpoint='work_dirs/zoo/pose_dwpose_s1/teacher/epoch_40.pth'))

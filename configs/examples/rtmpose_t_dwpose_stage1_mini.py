# DWPose stage 1 on the mini keypoint data: RTMPose-s teacher -> RTMPose-t
# student. The student config is used unchanged; the recipe adds the rest.
#   python tools/make_mini_data.py
#   python tools/train.py configs/mini/pose/rtmpose_teacher.py
#   python tools/train.py configs/examples/rtmpose_t_dwpose_stage1_mini.py
_base_ = ['../mini/pose/rtmpose_student.py', '../distill/dwpose_stage1.py']

distill = dict(
    teacher=dict(
        config='{{ fileDirname }}/../mini/pose/rtmpose_teacher.py',
        checkpoint='work_dirs/rtmpose_teacher/epoch_20.pth'))

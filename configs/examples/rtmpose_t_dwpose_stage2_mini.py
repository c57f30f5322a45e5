# DWPose stage 2 on the mini keypoint data: head-aware self-KD of the
# stage-1 RTMPose-t (configs/examples/rtmpose_t_dwpose_stage1_mini.py).
#   python tools/train.py configs/examples/rtmpose_t_dwpose_stage2_mini.py
# The result is a plain RTMPose-t checkpoint:
#   python tools/test.py configs/mini/pose/rtmpose_student.py \
#       work_dirs/rtmpose_t_dwpose_stage2_mini/epoch_4.pth
_base_ = ['../mini/pose/rtmpose_student.py', '../distill/dwpose_stage2.py']

stage1_checkpoint = 'work_dirs/rtmpose_t_dwpose_stage1_mini/epoch_20.pth'
distill = dict(
    teacher=dict(
        config='{{ fileDirname }}/../mini/pose/rtmpose_student.py',
        checkpoint=stage1_checkpoint),
    student_init=dict(checkpoint=stage1_checkpoint))

# ~20% of the stage-1 schedule (DWPose: 60 of 270 epochs)
max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = _base_.mini_pose_stage2_cosine[max_epochs]

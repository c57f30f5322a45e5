# The results zoo's pose teacher (tools/zoo.py pose_dwpose_s1): the mini
# RTMPose-t (configs/mini/pose/rtmpose_student.py), from scratch, 40 epochs
# on all 547 training persons: the teacher of tools/demos/dwpose_demo.py.
# Its edge over the students is four times the data and 1.8x the
# iterations. (RTMPose-s from scratch stays on the mean-pose plateau for 40
# epochs here: AP 0.017.)
_base_ = ['../mini/pose/rtmpose_student.py']

max_epochs = 40
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = _base_.mini_pose_cosine[max_epochs]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))

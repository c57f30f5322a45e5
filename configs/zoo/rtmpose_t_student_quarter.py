# The results zoo's plain pose student (tools/zoo.py pose_dwpose_s1): the
# mini RTMPose-t (configs/mini/pose/rtmpose_student.py) as it is, from
# scratch, on a quarter of the training persons (the first 137 of 547) for
# 80 epochs (400 iterations, the teacher's 720 on all persons).
_base_ = ['../mini/pose/rtmpose_student.py']

train_dataloader = dict(dataset=dict(indices=137))
max_epochs = 80
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = _base_.mini_pose_cosine[max_epochs]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))

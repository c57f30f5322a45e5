# The results zoo's pose teacher (tools/zoo.py pose_dwpose_s1): the mini
# RTMPose-s (configs/mini/pose/rtmpose_teacher.py) as it is, from scratch,
# 40 epochs on all 547 training persons.
_base_ = ['../mini/pose/rtmpose_teacher.py']

max_epochs = 40
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', eta_min=_base_.mini_pose_base_lr * 0.05,
         begin=max_epochs // 2, end=max_epochs, T_max=max_epochs // 2,
         by_epoch=True, convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))

# The schedules of mmkd's mini RTMPose models on the CPU: RTMPose's AdamW at
# lr 1e-3 (its 4e-3 is for batch 1024 and diverges here at batch 32), a short
# linear warm-up (RTMPose's is 1000 iterations), then a cosine to 5% of the
# lr.
# - `mini_pose_cosine`: training from scratch (and DWPose stage 1): 50
#   warm-up iterations, flat, then the cosine over the second half;
# - `mini_pose_stage2_cosine`: DWPose stage 2 (a new head on a frozen
#   backbone): 20 warm-up iterations, then the cosine over the whole run.
#
# Every key starts with `mini_pose_` so that this file can be listed next to
# an RTMPose config (as ../datasets/mini_pose.py). The child picks its
# length (`{max_epochs: param_scheduler}`):
#
#   max_epochs = 40
#   train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
#   param_scheduler = _base_.mini_pose_cosine[max_epochs]
mini_pose_max_epochs = 20  # configs/mini/pose
mini_pose_base_lr = 1e-3
# 20 epochs (configs/mini/pose), 40 (the zoo's teacher), 80 (the zoo's
# students on a quarter of the persons)
mini_pose_cosine = {
    max_epochs: [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
             end=50),
        dict(type='CosineAnnealingLR', eta_min=mini_pose_base_lr * 0.05,
             begin=max_epochs // 2, end=max_epochs, T_max=max_epochs // 2,
             by_epoch=True, convert_to_iter_based=True),
    ]
    for max_epochs in (20, 40, 80)
}
mini_pose_param_scheduler = mini_pose_cosine[mini_pose_max_epochs]
# ~20% of the stage-1 epochs (DWPose: 60 of 270): 4 (configs/examples, after
# 20), 16 (the zoo, after 80)
mini_pose_stage2_cosine = {
    max_epochs: [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
             end=20),
        dict(type='CosineAnnealingLR', eta_min=mini_pose_base_lr * 0.05,
             begin=0, end=max_epochs, T_max=max_epochs, by_epoch=True,
             convert_to_iter_based=True),
    ]
    for max_epochs in (4, 16)
}

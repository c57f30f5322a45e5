# The results zoo's plain point-cloud student (tools/zoo.py
# det3d_pointdistiller): PointDistiller's 4x smaller PointPillars
# (configs/mini/det3d/pointpillars_student.py: PFN 32, backbone
# [32, 64, 128]) on a quarter of the teacher's frames (the first 16 of 64)
# for 80 one-cycle epochs: 320 iterations of 4 frames, the teacher's 40
# epochs of 16 iterations on all frames are 640.
_base_ = ['../mini/det3d/pointpillars_student.py']

train_dataloader = dict(dataset=dict(indices=16))
lr = _base_.lr
epoch_num = 80
# mmdet3d's one-cycle shape (the base config's, over 80 epochs)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=epoch_num * 0.4, eta_min=lr * 10,
         begin=0, end=epoch_num * 0.4, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=epoch_num * 0.6,
         eta_min=lr * 1e-4, begin=epoch_num * 0.4, end=epoch_num,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=epoch_num * 0.4,
         eta_min=0.85 / 0.95, begin=0, end=epoch_num * 0.4, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=epoch_num * 0.6, eta_min=1,
         begin=epoch_num * 0.4, end=epoch_num, by_epoch=True,
         convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=epoch_num, val_interval=epoch_num)
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=epoch_num))

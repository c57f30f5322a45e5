# The results zoo's plain point-cloud student (tools/zoo.py
# det3d_pointdistiller): PointDistiller's 4x smaller PointPillars
# (configs/mini/det3d/pointpillars_student.py: PFN 32, backbone
# [32, 64, 128]) on a quarter of the teacher's frames (the first 16 of 64)
# for 80 one-cycle epochs: 320 iterations of 4 frames, the teacher's 40
# epochs of 16 iterations on all frames are 640.
_base_ = ['../mini/det3d/pointpillars_student.py']

train_dataloader = dict(dataset=dict(indices=16))
epoch_num = 80
param_scheduler = _base_.mini_det3d_cyclic[epoch_num]
train_cfg = dict(max_epochs=epoch_num, val_interval=epoch_num)
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=epoch_num))

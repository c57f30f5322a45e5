# The results zoo's point-cloud teacher (tools/zoo.py det3d_pointdistiller):
# the mini PointPillars teacher (configs/mini/det3d/pointpillars_teacher.py,
# PFN 64, backbone [64, 128, 256]) trained twice as long (40 one-cycle
# epochs) on all 64 generated training frames (the PointDistiller demo's;
# the zoo draws them into $MMKD_DATA_ROOT/kitti, with 40 validation frames).
# Evaluated once, by the zoo's test after training: KittiMetric runs its
# numba.cuda kernels in numba's simulator on a CPU machine, which is slow.
_base_ = ['../mini/det3d/pointpillars_teacher.py']

epoch_num = 40
param_scheduler = _base_.mini_det3d_cyclic[epoch_num]
train_cfg = dict(max_epochs=epoch_num, val_interval=epoch_num)
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=epoch_num))

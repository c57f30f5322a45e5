# The schedule of mmkd's mini PointPillars on the CPU: mmdet3d's one-cycle
# shape (its pointpillars KITTI config's): the lr climbs by cosine to 10x
# over the first 40% of the epochs and falls to 1e-4x over the rest, while
# the momentum falls from 0.95 to 0.85 and climbs back; lr 0.001.
#
# Every key starts with `mini_det3d_` so that this file can be listed next
# to an mmdet3d config (as ../datasets/mini_det.py next to an mmdet one).
# The child picks its length (`{epoch_num: param_scheduler}`):
#
#   lr = _base_.mini_det3d_lr
#   epoch_num = 40
#   optim_wrapper = dict(optimizer=dict(lr=lr))
#   param_scheduler = _base_.mini_det3d_cyclic[epoch_num]
mini_det3d_lr = 0.001
# 20 epochs (configs/mini/det3d), 40 (the zoo's teacher), 80 (the zoo's
# student on a quarter of the frames)
mini_det3d_cyclic = {
    epoch_num: [
        dict(type='CosineAnnealingLR', T_max=epoch_num * 0.4,
             eta_min=mini_det3d_lr * 10, begin=0, end=epoch_num * 0.4,
             by_epoch=True, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', T_max=epoch_num * 0.6,
             eta_min=mini_det3d_lr * 1e-4, begin=epoch_num * 0.4,
             end=epoch_num, by_epoch=True, convert_to_iter_based=True),
        dict(type='CosineAnnealingMomentum', T_max=epoch_num * 0.4,
             eta_min=0.85 / 0.95, begin=0, end=epoch_num * 0.4,
             by_epoch=True, convert_to_iter_based=True),
        dict(type='CosineAnnealingMomentum', T_max=epoch_num * 0.6,
             eta_min=1, begin=epoch_num * 0.4, end=epoch_num, by_epoch=True,
             convert_to_iter_based=True)
    ]
    for epoch_num in (20, 40, 80)
}

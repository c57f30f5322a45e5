# The schedule of mmkd's mini one-stage detectors (RTMDet, GFL) on 2 CPU
# cores: RTMDet's optimiser (AdamW, weight decay 0.05, none on norms and
# biases) at lr 0.008 with clipped gradients, 30 warm-up iterations, then a
# cosine to 5% of the lr over the whole run.
# - lr 0.008: RTMDet's 0.004 (for batch 256) learns half as fast here, 0.016
#   is worse again;
# - clipping tames the first epoch's gradient spikes (norms ~16, then ~1); a
#   student seed that stalled for a few epochs went 0.15 -> 0.20 mAP with it.
#
# Every key starts with `mini_det_` so that this file can be listed next to
# an mmdet config (as ../datasets/mini_det.py). The child picks its length:
#
#   max_epochs = 24
#   train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
#   optim_wrapper = dict(_delete_=True, **_base_.mini_det_optim_wrapper)
#   param_scheduler = _base_.mini_det_cosine[max_epochs]
#
# (over an mmdet config that already has this optimiser type, RTMDet's,
# `optim_wrapper = _base_.mini_det_optim_wrapper` merges instead).
mini_det_base_lr = 0.008
mini_det_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=mini_det_base_lr, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=5, norm_type=2))
# {max_epochs: param_scheduler}: 12 epochs (configs/mini/det), 24 (the zoo's
# teachers) and 48 (the zoo's students on a quarter of the images: the
# 12-epoch run's iterations)
mini_det_cosine = {
    max_epochs: [
        dict(
            type='LinearLR',
            start_factor=1e-3,
            by_epoch=False,
            begin=0,
            end=30),
        dict(
            type='CosineAnnealingLR',
            eta_min=mini_det_base_lr * 0.05,
            begin=0,
            end=max_epochs,
            T_max=max_epochs,
            by_epoch=True,
            convert_to_iter_based=True),
    ]
    for max_epochs in (12, 24, 48)
}

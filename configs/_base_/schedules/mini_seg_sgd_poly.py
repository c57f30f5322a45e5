# The schedule of mmkd's mini PSPNet on the CPU: mmseg's SGD at lr 0.05
# (from scratch it learns faster here than mmseg's 0.01, and than AdamW),
# 20 warm-up iterations, then mmseg's poly decay (power 0.9) to 1e-4.
#
# Every key starts with `mini_seg_` so that this file can be listed next to
# an mmseg config (as ../datasets/mini_seg.py). The child picks its length
# (`{max_iters: param_scheduler}`):
#
#   max_iters = 800
#   train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
#   optim_wrapper = dict(optimizer=dict(lr=_base_.mini_seg_lr))
#   param_scheduler = _base_.mini_seg_poly[max_iters]
mini_seg_lr = 0.05
# 400 iterations (configs/mini/seg), 800 (the zoo's teacher)
mini_seg_poly = {
    max_iters: [
        dict(
            type='LinearLR',
            start_factor=1e-2,
            by_epoch=False,
            begin=0,
            end=20),
        dict(
            type='PolyLR',
            eta_min=1e-4,
            power=0.9,
            begin=0,
            end=max_iters,
            by_epoch=False)
    ]
    for max_iters in (400, 800)
}

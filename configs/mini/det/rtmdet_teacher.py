# RTMDet teacher for mmkd's mini shapes data: an RTMDet-s-sized model
# (deepen 0.33, widen 0.5, 8.9 M params) trained from scratch on CPU.
# Measured (12 epochs = 480 iterations of 8 images at 128 px, 1 torch
# thread): bbox mAP 0.25 (seed 0) in 7.6 min while the 2 cores were shared
# by ~6 busy processes (~5 min on a lighter load); at this length mAP moves
# by about +-0.1 with the seed.
#   python tools/make_mini_data.py             # once: data/mini
#   python tools/train.py configs/mini/det/rtmdet_teacher.py
# The user's model config is mmdet's own rtmdet_tiny; only sizes, data and
# the (short, CPU) schedule are overridden.
_base_ = [
    'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
    '../../_base_/datasets/mini_det.py',
    '../../_base_/schedules/mini_det_adamw_cosine.py'
]

norm_cfg = dict(type='BN')  # no SyncBN: CPU, single process
model = dict(
    backbone=dict(
        deepen_factor=0.33,
        widen_factor=0.5,
        norm_cfg=norm_cfg,
        init_cfg=None),  # from scratch, nothing to download
    neck=dict(
        in_channels=[128, 256, 512],
        out_channels=128,
        num_csp_blocks=1,
        norm_cfg=norm_cfg),
    bbox_head=dict(
        num_classes=3,
        in_channels=128,
        feat_channels=128,
        exp_on_reg=False,
        norm_cfg=norm_cfg),
    test_cfg=dict(nms_pre=1000, score_thr=0.01, max_per_img=100))

# data: mmkd's mini shapes (see configs/_base_/datasets/mini_det.py)
data_root = _base_.mini_data_root
train_pipeline = _base_.mini_det_train_pipeline
test_pipeline = _base_.mini_det_test_pipeline
train_dataloader = dict(_delete_=True, **_base_.mini_det_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.mini_det_val_dataloader)
test_dataloader = dict(_delete_=True, **_base_.mini_det_test_dataloader)
val_evaluator = dict(_delete_=True, **_base_.mini_det_val_evaluator)
test_evaluator = dict(_delete_=True, **_base_.mini_det_test_evaluator)

# schedule: short, for 2 CPU cores (see
# configs/_base_/schedules/mini_det_adamw_cosine.py); RTMDet's own optimiser
# with another lr and clipping, merged (it keeps its mmdet scope)
max_epochs = 12
base_lr = _base_.mini_det_base_lr
train_cfg = dict(
    max_epochs=max_epochs, val_interval=max_epochs, dynamic_intervals=None)
optim_wrapper = _base_.mini_det_optim_wrapper
param_scheduler = _base_.mini_det_cosine[max_epochs]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_last=True))
# RTMDet's EMA (its warm-up spans ~2000 iterations, longer than this whole
# schedule) and its switch to the stage-2 pipeline (no Mosaic/MixUp here
# anyway) do nothing useful in a short run: off.
custom_hooks = []
# from-scratch results in this short schedule vary a lot with the seed:
# fixed, so that runs (and student-alone vs distilled) compare like for like
randomness = dict(seed=0)

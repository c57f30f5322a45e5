# GFL teacher for mmkd's mini shapes data (the model LD distils): mmdet's own
# GFL (ATSS assignment, quality focal loss, distribution focal loss over
# reg_max + 1 = 17 bins per box edge) with the mini RTMDet teacher's
# CSPNeXt backbone (deepen 0.33, widen 0.5), an FPN of 5 levels and the
# mini RTMDet's optimiser (AdamW 0.008, clipped gradients): mmdet's GFL
# schedule (SGD 0.01 from ImageNet weights) learns little from scratch in a
# CPU-sized run.
#   python tools/make_mini_data.py             # once: data/mini
#   python tools/train.py configs/mini/det/gfl_cspnext_teacher.py
_base_ = [
    'mmdet::gfl/gfl_r50_fpn_1x_coco.py', '../../_base_/datasets/mini_det.py',
    '../../_base_/schedules/mini_det_adamw_cosine.py'
]

norm_cfg = dict(type='BN')  # no SyncBN: CPU, single process
model = dict(
    backbone=dict(
        _delete_=True,
        type='CSPNeXt',
        arch='P5',
        expand_ratio=0.5,
        deepen_factor=0.33,
        widen_factor=0.5,
        channel_attention=True,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='SiLU', inplace=True),
        init_cfg=None),  # from scratch, nothing to download
    neck=dict(
        in_channels=[128, 256, 512],
        out_channels=128,
        start_level=0,
        add_extra_convs='on_output',
        num_outs=5),
    bbox_head=dict(
        num_classes=3,
        in_channels=128,
        feat_channels=128,
        stacked_convs=2,
        # anchors of 4 x stride: the mini objects are 16-64 px at 128 px
        anchor_generator=dict(octave_base_scale=4)),
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

# schedule: the mini RTMDet's, short, for 2 CPU cores (see
# configs/_base_/schedules/mini_det_adamw_cosine.py)
max_epochs = 12
base_lr = _base_.mini_det_base_lr
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(_delete_=True, **_base_.mini_det_optim_wrapper)
param_scheduler = _base_.mini_det_cosine[max_epochs]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_last=True))
randomness = dict(seed=0)

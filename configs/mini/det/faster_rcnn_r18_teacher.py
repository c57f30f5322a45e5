# Two-stage detector on mmkd's mini shapes data: mmdet's Faster R-CNN
# R-50-FPN config with a ResNet-18 (from scratch) and a 128-channel FPN.
# Small and fast for tests of two-stage distillation; no quality target.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../../_base_/datasets/mini_det.py'
]

model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,  # from scratch: train every stage
        norm_eval=False,
        init_cfg=None),  # no torchvision download
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    rpn_head=dict(
        in_channels=128,
        feat_channels=128,
        anchor_generator=dict(scales=[4])),  # objects of 16-64 px
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=256, num_classes=3)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(score_thr=0.01, max_per_img=100)))

# data: mmkd's mini shapes (see configs/_base_/datasets/mini_det.py)
data_root = _base_.mini_data_root
train_pipeline = _base_.mini_det_train_pipeline
test_pipeline = _base_.mini_det_test_pipeline
train_dataloader = dict(_delete_=True, **_base_.mini_det_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.mini_det_val_dataloader)
test_dataloader = dict(_delete_=True, **_base_.mini_det_test_dataloader)
val_evaluator = dict(_delete_=True, **_base_.mini_det_val_evaluator)
test_evaluator = dict(_delete_=True, **_base_.mini_det_test_evaluator)

# schedule: short, for CPU
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    optimizer=dict(lr=0.01), clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=40),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_last=True))

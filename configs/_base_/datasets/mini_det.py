# mmkd's mini shapes detection data (3 classes), drawn by
# `python tools/make_mini_data.py` (mmkd.datasets.generate_mini_data) into
# $MMKD_DATA_ROOT (default: data/mini, relative to the working directory).
#
# Every key here starts with `mini_` so that this file can be listed next to
# an OpenMMLab model config that already defines `train_dataloader` & co.
# (mmengine refuses a key defined by two bases). The child config picks them:
#
#   _base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
#             '../../_base_/datasets/mini_det.py']
#   train_dataloader = dict(_delete_=True, **_base_.mini_det_train_dataloader)
#   val_dataloader = dict(_delete_=True, **_base_.mini_det_val_dataloader)
#   test_dataloader = dict(_delete_=True, **_base_.mini_det_test_dataloader)
#   val_evaluator = dict(_delete_=True, **_base_.mini_det_val_evaluator)
#   test_evaluator = dict(_delete_=True, **_base_.mini_det_test_evaluator)
#
# The types resolve in the `mmdet` scope (default_scope of mmdet configs).
mini_data_root = '{{$MMKD_DATA_ROOT:data/mini}}/'
mini_det_metainfo = dict(
    classes=('circle', 'square', 'triangle'),
    palette=[(220, 20, 60), (0, 128, 255), (0, 200, 0)])
mini_img_scale = (128, 128)  # the generator's default img_size

mini_det_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    # plain and fast: no Mosaic/MixUp/scale jitter (short CPU schedules)
    dict(type='Resize', scale=mini_img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=mini_img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs')
]
mini_det_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=mini_img_scale, keep_ratio=True),
    dict(type='Pad', size=mini_img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

mini_det_train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='CocoDataset',
        data_root=mini_data_root,
        metainfo=mini_det_metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=mini_det_train_pipeline))
mini_det_val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset',
        data_root=mini_data_root,
        metainfo=mini_det_metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        test_mode=True,
        pipeline=mini_det_test_pipeline))
mini_det_test_dataloader = mini_det_val_dataloader

mini_det_val_evaluator = dict(
    type='CocoMetric',
    ann_file=mini_data_root + 'annotations/instances_val.json',
    metric='bbox',
    format_only=False)
mini_det_test_evaluator = mini_det_val_evaluator

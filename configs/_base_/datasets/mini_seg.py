# mmkd's mini shapes semantic segmentation data (4 classes with the
# background), drawn by `python tools/make_mini_data.py` into $MMKD_DATA_ROOT
# (default: data/mini). Label maps: 0 background, 1 circle, 2 square,
# 3 triangle; mmseg's own BaseSegDataset reads them with the metainfo below.
#
# Every key here starts with `mini_` so that this file can be listed next to
# an mmseg model config that already defines `train_dataloader` & co.
# (mmengine refuses a key defined by two bases). The child config picks them:
#
#   train_dataloader = dict(_delete_=True, **_base_.mini_seg_train_dataloader)
#   val_dataloader = dict(_delete_=True, **_base_.mini_seg_val_dataloader)
#   test_dataloader = dict(_delete_=True, **_base_.mini_seg_test_dataloader)
#   val_evaluator = dict(_delete_=True, **_base_.mini_seg_val_evaluator)
#   test_evaluator = dict(_delete_=True, **_base_.mini_seg_test_evaluator)
#
# The types resolve in the `mmseg` scope (default_scope of mmseg configs).
mini_seg_data_root = '{{$MMKD_DATA_ROOT:data/mini}}/seg/'
mini_seg_metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle'),
    palette=[(0, 0, 0), (220, 20, 60), (0, 128, 255), (0, 200, 0)])
mini_seg_img_scale = (128, 128)  # the generator's default img_size
mini_seg_crop_size = (96, 96)

mini_seg_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=mini_seg_img_scale,
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=mini_seg_crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
mini_seg_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=mini_seg_img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]

mini_seg_train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='BaseSegDataset',
        metainfo=mini_seg_metainfo,
        data_root=mini_seg_data_root,
        data_prefix=dict(
            img_path='images/train', seg_map_path='labels/train'),
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        pipeline=mini_seg_train_pipeline))
mini_seg_val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='BaseSegDataset',
        metainfo=mini_seg_metainfo,
        data_root=mini_seg_data_root,
        data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
        img_suffix='.png',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        test_mode=True,
        pipeline=mini_seg_test_pipeline))
mini_seg_test_dataloader = mini_seg_val_dataloader

mini_seg_val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
mini_seg_test_evaluator = mini_seg_val_evaluator

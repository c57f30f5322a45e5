# mmkd's mini classification data (8 classes: four shapes, each filled or
# hollow; 32x32 images), drawn by `python tools/make_mini_data.py` into
# $MMKD_DATA_ROOT/cls (default: data/mini/cls) and read by mmpretrain's own
# CustomDataset through its annotation files.
#
# Every key here starts with `mini_` so that this file can be listed next to
# an mmpretrain config that already defines `train_dataloader` & co.
# (mmengine refuses a key defined by two bases). The child config picks them:
#
#   train_dataloader = dict(_delete_=True, **_base_.mini_cls_train_dataloader)
#   val_dataloader = dict(_delete_=True, **_base_.mini_cls_val_dataloader)
#   test_dataloader = dict(_delete_=True, **_base_.mini_cls_val_dataloader)
#   data_preprocessor = dict(_delete_=True, **_base_.mini_cls_preprocessor)
#
# The types resolve in the `mmpretrain` scope.
mini_cls_data_root = '{{$MMKD_DATA_ROOT:data/mini}}/cls/'
mini_cls_metainfo = dict(
    classes=('circle', 'ring', 'square', 'square_frame', 'triangle',
             'triangle_frame', 'star', 'star_frame'))
mini_cls_preprocessor = dict(
    num_classes=8,
    mean=[127.5, 127.5, 127.5],
    std=[64.0, 64.0, 64.0],
    to_rgb=True)  # LoadImageFromFile reads BGR

mini_cls_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
mini_cls_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
mini_cls_train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,  # mmpretrain's train.py defaults it to True
    dataset=dict(
        type='CustomDataset',
        data_root=mini_cls_data_root,
        ann_file='meta/train.txt',
        metainfo=mini_cls_metainfo,
        pipeline=mini_cls_train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
mini_cls_val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    persistent_workers=False,  # mmpretrain's train.py defaults it to True
    dataset=dict(
        type='CustomDataset',
        data_root=mini_cls_data_root,
        ann_file='meta/val.txt',
        metainfo=mini_cls_metainfo,
        pipeline=mini_cls_test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
mini_cls_evaluator = dict(type='Accuracy', topk=(1, ))

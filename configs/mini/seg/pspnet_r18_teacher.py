# Semantic segmentation teacher on mmkd's mini shapes data: mmseg's own
# PSPNet R-18-D8 config (ResNetV1c-18, dilated, output stride 8), from
# scratch, 96x96 crops, a short CPU schedule. Measured (400 iterations of
# 8 crops, 1 torch thread, shared 2 cores): 4.8 min, mIoU 32.9 (background
# 85, shapes 10-23); the half-width student: 2.1 min, mIoU 30.4. Segmenting
# from scratch is slow here: the student reached 39 mIoU after 1000 iters.
#   python tools/make_mini_data.py             # once: data/mini
#   python tools/train.py configs/mini/seg/pspnet_r18_teacher.py
_base_ = [
    'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    '../../_base_/datasets/mini_seg.py',
    '../../_base_/schedules/mini_seg_sgd_poly.py'
]

norm_cfg = dict(type='BN', requires_grad=True)  # CPU, single process
crop_size = _base_.mini_seg_crop_size
data_preprocessor = dict(size=crop_size)
# background covers ~85% of the pixels: down-weighting it gets the shapes
# learnt sooner in a short schedule from scratch
loss_decode = dict(class_weight=[0.3, 1.0, 1.0, 1.0])
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,  # from scratch, nothing to download
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(
        num_classes=4, norm_cfg=norm_cfg, loss_decode=loss_decode),
    auxiliary_head=dict(
        num_classes=4, norm_cfg=norm_cfg, loss_decode=loss_decode))

# data: mmkd's mini shapes (see configs/_base_/datasets/mini_seg.py)
data_root = _base_.mini_seg_data_root
dataset_type = 'BaseSegDataset'
train_pipeline = _base_.mini_seg_train_pipeline
test_pipeline = _base_.mini_seg_test_pipeline
train_dataloader = dict(_delete_=True, **_base_.mini_seg_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.mini_seg_val_dataloader)
test_dataloader = dict(_delete_=True, **_base_.mini_seg_test_dataloader)
val_evaluator = dict(_delete_=True, **_base_.mini_seg_val_evaluator)
test_evaluator = dict(_delete_=True, **_base_.mini_seg_test_evaluator)

# schedule: short, for CPU (see configs/_base_/schedules/mini_seg_sgd_poly.py)
max_iters = 400
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=_base_.mini_seg_lr))
param_scheduler = _base_.mini_seg_poly[max_iters]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_last=True))

# Semantic segmentation UNet on mmkd's mini shapes data: mmseg's own UNet +
# FCNHead config (unet-s5-d16, DRIVE 64x64) made small for the CPU: 4
# stages of 8-64 channels (stage i at 1/2**i of the input), heads of 16
# channels (the decode head on decoder.0, the auxiliary head on decoder.1,
# as mmseg's in_index 4/3 on 5 stages), from scratch, 96x96 crops.
# Measured (1 torch thread, shared 2 cores): ~0.25 s per iteration of 8
# crops; on 80 of the images (configs/zoo/unet_student.py) mIoU ~28 after
# 400 iterations (near the all-background plateau, ~20), 63.6 after 800.
#   python tools/make_mini_data.py             # once: data/mini
#   python tools/train.py configs/mini/seg/unet_s4_student.py
# Its dual self-distillation: configs/zoo/unet_student_dsd.py.
_base_ = [
    'mmseg::unet/unet-s5-d16_fcn_4xb4-40k_drive-64x64.py',
    '../../_base_/datasets/mini_seg.py',
    '../../_base_/schedules/mini_seg_sgd_poly.py'
]

norm_cfg = dict(type='BN', requires_grad=True)  # CPU, single process
crop_size = _base_.mini_seg_crop_size
data_preprocessor = dict(size=crop_size)
# background covers ~85% of the pixels (as configs/mini/seg/pspnet_*)
loss_decode = dict(class_weight=[0.3, 1.0, 1.0, 1.0])
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        base_channels=8,
        num_stages=4,
        strides=(1, 1, 1, 1),
        enc_num_convs=(2, 2, 2, 2),
        dec_num_convs=(2, 2, 2),
        downsamples=(True, True, True),
        enc_dilations=(1, 1, 1, 1),
        dec_dilations=(1, 1, 1),
        norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=8, in_index=3, channels=16, num_classes=4,
        norm_cfg=norm_cfg, loss_decode=loss_decode),
    auxiliary_head=dict(
        in_channels=16, in_index=2, channels=16, num_classes=4,
        norm_cfg=norm_cfg, loss_decode=loss_decode),
    test_cfg=dict(mode='whole'))  # the 128x128 images at once

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

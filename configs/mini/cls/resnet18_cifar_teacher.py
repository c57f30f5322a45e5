# Classification teacher on mmkd's mini shapes (8 classes, 32x32, 4000
# training images): mmpretrain's own CIFAR ResNet-18 config at a quarter of
# its width (stem and base channels 16), from scratch, a short cosine
# schedule for the CPU.
#   python tools/make_mini_data.py             # once: data/mini (cls/ too)
#   python tools/train.py configs/mini/cls/resnet18_cifar_teacher.py
_base_ = [
    'mmpretrain::resnet/resnet18_8xb16_cifar10.py',
    '../../_base_/datasets/mini_cls.py'
]

model = dict(
    backbone=dict(stem_channels=16, base_channels=16),
    head=dict(num_classes=8, in_channels=128, topk=(1, )))
data_preprocessor = dict(_delete_=True, **_base_.mini_cls_preprocessor)
train_dataloader = dict(_delete_=True, **_base_.mini_cls_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.mini_cls_val_dataloader)
test_dataloader = dict(_delete_=True, **_base_.mini_cls_val_dataloader)
val_evaluator = _base_.mini_cls_evaluator
test_evaluator = _base_.mini_cls_evaluator

max_epochs = 15
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    _delete_=True, type='CosineAnnealingLR', by_epoch=True, T_max=max_epochs,
    eta_min=1e-4)
auto_scale_lr = dict(enable=False, base_batch_size=64)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_last=True))

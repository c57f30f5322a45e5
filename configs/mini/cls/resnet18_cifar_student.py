# Classification student on mmkd's mini shapes: the teacher's CIFAR
# ResNet-18 at a quarter of its width again (stem and base channels 4, 1/16
# of its compute), same data, schedule and head (8 classes).
_base_ = './resnet18_cifar_teacher.py'

model = dict(
    backbone=dict(stem_channels=4, base_channels=4),
    head=dict(in_channels=32))

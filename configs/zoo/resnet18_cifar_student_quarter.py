# The results zoo's plain classification student (tools/zoo.py cls_kd): the
# mini student (CIFAR ResNet-18, stem and base channels 4: 1/16 of the
# teacher's compute) on the first 1000 of the teacher's 4000 training
# images, for 40 epochs (640 iterations of 64 images).
_base_ = ['../mini/cls/resnet18_cifar_student.py']

max_epochs = 40
train_dataloader = dict(dataset=dict(indices=1000))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = dict(T_max=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))

# The results zoo's classification teacher (tools/zoo.py cls_kd): the mini
# CIFAR ResNet-18 teacher (stem and base channels 16) as it is, all 4000
# training images for 15 epochs.
_base_ = ['../mini/cls/resnet18_cifar_teacher.py']

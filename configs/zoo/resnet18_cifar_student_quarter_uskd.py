# The results zoo's USKD classification student (tools/zoo.py cls_uskd):
# resnet18_cifar_student_quarter.py, unchanged, with mmkd's USKD
# self-distillation recipe (the authors' ImageNet ResNet-18 one: alpha 1,
# beta 0.1, mu 0.005; the weak classifier on `backbone.layer3`, 16 channels
# here). No teacher.
_base_ = ['./resnet18_cifar_student_quarter.py', 'mmkd::distill/cls_uskd.py']

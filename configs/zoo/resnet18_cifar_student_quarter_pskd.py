# The results zoo's PS-KD classification student (tools/zoo.py cls_pskd):
# resnet18_cifar_student_quarter.py, unchanged, with mmkd's PS-KD recipe (no
# teacher; alpha_T 0.8 ramped over the 40 epochs).
_base_ = ['./resnet18_cifar_student_quarter.py', 'mmkd::distill/cls_pskd.py']

# The results zoo's DKD classification student (tools/zoo.py cls_dkd):
# resnet18_cifar_student_quarter.py, unchanged, with mmkd's DKD recipe
# (MMRazor's: tau 1, alpha 1, beta 0.5), taught by the cls_kd family's
# teacher.
_base_ = ['./resnet18_cifar_student_quarter.py', 'mmkd::distill/cls_dkd.py']

distill = dict(
    teacher=dict(
        config='mmkd::zoo/resnet18_cifar_teacher.py',
        checkpoint='work_dirs/zoo/cls_kd/teacher/epoch_15.pth'))

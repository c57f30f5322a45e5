# The results zoo's distilled classification student (tools/zoo.py cls_kd):
# resnet18_cifar_student_quarter.py, unchanged, with mmkd's logit KD recipe
# (MMRazor's: tau 1, weight 3), taught by resnet18_cifar_teacher.py.
_base_ = ['./resnet18_cifar_student_quarter.py', 'mmkd::distill/cls_kd.py']

distill = dict(
    teacher=dict(
        config='mmkd::zoo/resnet18_cifar_teacher.py',
        checkpoint='work_dirs/zoo/cls_kd/teacher/epoch_15.pth'))

# The results zoo's NKD classification student (a cls_nkd family still to
# run: it shares cls_kd's teacher and plain students):
# resnet18_cifar_student_quarter.py, unchanged, with mmkd's NKD recipe (the
# authors': temp 1, gamma 1.5), taught by the cls_kd family's teacher.
_base_ = ['./resnet18_cifar_student_quarter.py', 'mmkd::distill/cls_nkd.py']

distill = dict(
    teacher=dict(
        config='mmkd::zoo/resnet18_cifar_teacher.py',
        checkpoint='work_dirs/zoo/cls_kd/teacher/epoch_15.pth'))

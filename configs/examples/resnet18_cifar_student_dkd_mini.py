# A complete classification KD config, the way a user writes one: the
# mmpretrain student config is inherited unchanged, the recipe adds DKD on
# the head's logits, and the teacher is named with its config and checkpoint.
#   python tools/train.py configs/mini/cls/resnet18_cifar_teacher.py
#   python tools/train.py configs/examples/resnet18_cifar_student_dkd_mini.py
# (mmpretrain's own tools/train.py and tools/test.py run it too.)
_base_ = [
    '../mini/cls/resnet18_cifar_student.py',
    'mmkd::distill/cls_dkd.py',
]
distill = dict(
    teacher=dict(
        config='mmkd::mini/cls/resnet18_cifar_teacher.py',
        checkpoint='work_dirs/resnet18_cifar_teacher/epoch_15.pth'))

# The results zoo's self-distilled classification student (cls_byot):
# resnet18_cifar_student_quarter.py with mmkd's BYOT recipe (the official
# code's T 3, alpha 0.1, beta 1e-6; exits on stages 1-3), no teacher; the
# deepest cross-entropy at 1 - alpha, as the official code weights it.
_base_ = ['./resnet18_cifar_student_quarter.py', 'mmkd::distill/cls_byot.py']

model = dict(head=dict(loss=dict(loss_weight=0.9)))

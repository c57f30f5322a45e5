# Logit KD (Hinton et al.) on an mmpretrain ImageClassifier: the KL divergence
# between the softened class distributions of the heads' `fc` outputs, with
# MMRazor's ImageNet recipe (kd_logits_resnet34_resnet18: tau 1, weight 3).
#   _base_ = ['my_mmpretrain_student.py', 'mmkd::distill/cls_kd.py']
#   distill = dict(teacher=dict(config='my_teacher.py', checkpoint='t.pth'))
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses=dict(
        kd=dict(type='KDLoss', tau=1.0, loss_weight=3.0,
                student='head.fc', teacher='head.fc')))

# Normalized KD (NKD, Yang et al., ICCV 2023) on an mmpretrain
# ImageClassifier's `head.fc` logits, with the authors' ImageNet recipe
# (yzd-v/cls_KD res34_distill_res18_img: temp 1, gamma 1.5, weight 1). The
# target classes come from the batch's data samples (their `gt_label`).
#   _base_ = ['my_mmpretrain_student.py', 'mmkd::distill/cls_nkd.py']
#   distill = dict(teacher=dict(config='my_teacher.py', checkpoint='t.pth'))
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses=dict(
        nkd=dict(type='NKDLoss', temp=1.0, gamma=1.5, loss_weight=1.0,
                 student='head.fc', teacher='head.fc')))

# Decoupled KD (DKD, Zhao et al., CVPR 2022) on an mmpretrain
# ImageClassifier's `head.fc` logits, with MMRazor's ImageNet recipe
# (dkd_resnet34_resnet18: tau 1, alpha 1, beta 0.5, weight 1). The target
# classes come from the batch's data samples (their `gt_label`).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses=dict(
        dkd=dict(type='DKDLoss', tau=1.0, alpha=1.0, beta=0.5,
                 loss_weight=1.0, student='head.fc', teacher='head.fc')))

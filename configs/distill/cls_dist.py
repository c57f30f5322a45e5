# DIST (Huang et al., NeurIPS 2022) on an mmpretrain ImageClassifier's
# `head.fc` logits: inter- and intra-class Pearson correlation, with MMRazor's
# ImageNet recipe (dist_logits_resnet34_resnet18: tau 1, both terms 1,
# weight 2).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses=dict(
        dist=dict(type='DISTLoss', tau=1.0, inter_loss_weight=1.0,
                  intra_loss_weight=1.0, loss_weight=2.0,
                  student='head.fc', teacher='head.fc')))

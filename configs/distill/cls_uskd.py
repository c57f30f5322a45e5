# USKD (Yang et al., ICCV 2023): self-knowledge distillation of an
# mmpretrain ResNet classifier, no teacher. The student's own logits
# (`head.fc`, detached) make a soft target label and Zipf non-target labels,
# ranked together with a weak linear classifier (the loss's `fc`, saved
# under `distill_state`) on the average-pooled output of the third ResNet
# stage (`backbone.layer3`, the authors' intermediate feature). The
# authors' ImageNet ResNet-18 recipe (yzd-v/cls_KD res18_sd_img: alpha 1,
# beta 0.1, mu 0.005; their CIFAR-100 one: alpha 0.1, beta 0.1, mu 0.1);
# the student's cross-entropy stays.
#   _base_ = ['my_mmpretrain_resnet.py', 'mmkd::distill/cls_uskd.py']
runner_type = 'mmkd.DistillRunner'
distill = dict(
    self_distill=True,
    losses=dict(
        uskd=dict(type='USKDLoss', alpha=1.0, beta=0.1, mu=0.005,
                  student=['backbone.layer3', 'head.fc'],
                  teacher='head.fc')))

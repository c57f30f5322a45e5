# BYOT (Be Your Own Teacher, Zhang et al., ICCV 2019): self-distillation of
# an mmpretrain ResNet classifier (4 stages), no teacher. An exit
# (mmkd's BYOTExit: the official bottleneck to the deepest stage's channels,
# average pooling, a classifier) on each of the first three stages learns
# from the labels, the deepest classifier's softened logits (`head.fc`,
# detached) and its pooled feature (`neck[-1]`, detached), with the
# official code's hyper-parameters (luanyunteng/pytorch-be-your-own-teacher:
# T 3, alpha 0.1, beta 1e-6; exit strides 8/4/2). The exits are saved under
# `distill_state`; the checkpoint is the plain classifier's.
#   _base_ = ['my_mmpretrain_resnet.py', 'mmkd::distill/cls_byot.py']
#   # the official code weights the deepest cross-entropy by 1 - alpha too:
#   model = dict(head=dict(loss=dict(loss_weight=0.9)))
runner_type = 'mmkd.DistillRunner'
distill = dict(
    self_distill=True,
    losses={
        f'byot_stage{i}': dict(
            type='BYOTLoss', tau=3.0, alpha=0.1, beta=1e-6,
            student=f'backbone.layer{i}', teacher=['neck[-1]', 'head.fc'],
            connector=dict(type='BYOTExit', stride=2**(4 - i)))
        for i in (1, 2, 3)
    })

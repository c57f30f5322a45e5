# PS-KD (progressive self-knowledge distillation, Kim et al. ICCV 2021) on an
# mmpretrain ImageClassifier, without a teacher: each training image's target
# is (1 - a_t) * label + a_t * the softmax the model gave that image in the
# previous epoch, a_t = 0.8 * (epoch + 1) / max_epochs (the official code's
# alpha_T 0.8 and ramp). The head's own cross entropy stays; PSKDLoss adds
# a_t * (CE(past) - CE(label)) on the `head.fc` logits, so the sum is the
# official soft-target loss. The head's loss must be the plain
# CrossEntropyLoss (loss_weight 1, no label smoothing). The memory of past
# predictions (N x C) is saved under `distill_state` and resumed.
#   _base_ = ['my_mmpretrain_student.py', 'mmkd::distill/cls_pskd.py']
runner_type = 'mmkd.DistillRunner'
distill = dict(
    self_distill=True,
    losses=dict(
        pskd=dict(type='PSKDLoss', student='head.fc', loss_weight=0.8)),
    schedules=[dict(type='LinearRampWeight', losses=['pskd'])])

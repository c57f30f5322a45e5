# DWPose stage 1 (teacher -> student) for any RTMPose (SimCC) config.
# Yang et al., "Effective Whole-body Pose Estimation with Two-stages
# Distillation", ICCVW 2023 (arXiv:2307.15880); numbers equal mmpose 1.3.2's
# DWPoseDistiller / FeaLoss / KDLoss.
#
# Usage (only the teacher has to be named):
#   _base_ = [
#       'mmpose::body_2d_keypoint/rtmpose/coco/'
#       'rtmpose-m_8xb256-420e_coco-256x192.py',
#       'mmkd::distill/dwpose_stage1.py']
#   distill = dict(teacher=dict(
#       config='path/to/rtmpose-l_config.py', checkpoint='rtmpose-l.pth'))
#
# - fea: last backbone output, 1x1 align conv inside the loss (sized from a
#   shape probe), sum((align(F_s) - F_t)^2) / batch * 7e-5;
# - logit_x / logit_y: KL(softmax(beta*t) || softmax(beta*s)) over the SimCC
#   bins, summed over keypoints (all of them), batch mean, / K, weight 0.1;
#   their sum is DWPose's logit loss. beta = the head's KLDiscretLoss.beta
#   (10 in every RTMPose config; change it here if yours differs);
# - every distill loss x (1 - epoch / max_epochs), updated per epoch;
# - the student's own SimCC loss is kept.
# DWPose also clips gradients (optim_wrapper.clip_grad=dict(max_norm=1.));
# set that in your own config if you want it (a recipe must not redefine
# optim_wrapper).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    losses=dict(
        fea=dict(
            type='DWPoseFeatureLoss',
            student='backbone[-1]',
            teacher='backbone[-1]',
            alpha=7e-5),
        logit_x=dict(
            type='SimCCLogitLoss',
            student='head.cls_x',
            teacher='head.cls_x',
            beta=10.,
            loss_weight=0.1),
        logit_y=dict(
            type='SimCCLogitLoss',
            student='head.cls_y',
            teacher='head.cls_y',
            beta=10.,
            loss_weight=0.1),
    ),
    schedules=[
        dict(type='LinearDecayWeight', losses=['fea', 'logit_x', 'logit_y'])
    ],
    student_gt_loss=True,
)

# FGD (focal and global distillation) on the five FPN levels of an mmdet
# one-stage detector (RetinaNet, GFL, ...): the official RetinaNet settings
# (temp 0.5, alpha 1e-3, beta 5e-4, gamma 5e-4, lambda 5e-6). The loss reads
# the ground-truth boxes of the batch; a 1x1 conv aligns the student's
# channels when they differ (filled in from the recorded maps).
#   _base_ = ['mmdet::gfl/gfl_r50_fpn_1x_coco.py', 'mmkd::distill/fgd_fpn.py']
#   distill = dict(teacher=dict(config='mmdet::gfl/gfl_r101_fpn_ms-2x_coco.py',
#                               checkpoint='gfl_r101.pth'))
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses={
        f'fgd_fpn{i}': dict(
            type='FGDLoss', student=f'neck[{i}]', teacher=f'neck[{i}]',
            temp=0.5, alpha_fgd=1e-3, beta_fgd=5e-4, gamma_fgd=5e-4,
            lambda_fgd=5e-6)
        for i in range(5)
    })

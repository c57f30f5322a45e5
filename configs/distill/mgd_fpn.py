# MGD (masked generative distillation) on the five FPN levels of an mmdet
# detector: the official RetinaNet settings (alpha 2e-5, mask ratio lambda
# 0.65). The loss holds MGD's generator (conv3x3-ReLU-conv3x3) and a 1x1
# conv that aligns the student's channels when they differ (filled in from
# the recorded maps).
#   _base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
#             'mmkd::distill/mgd_fpn.py']
#   distill = dict(teacher=dict(
#       config='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py',
#       checkpoint='retinanet_x101.pth'))
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses={
        f'mgd_fpn{i}': dict(type='MGDLoss', alpha_mgd=2e-5, lambda_mgd=0.65,
                            student=f'neck[{i}]', teacher=f'neck[{i}]')
        for i in range(5)
    })

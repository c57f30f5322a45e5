# Channel-wise distillation (CWD) on the five FPN levels of an mmdet
# detector (tau 1, weight 10 per level, as for RetinaNet in the paper). A
# 1x1 conv connector maps the student's channels to the teacher's when they
# differ.
#   _base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
#             'mmkd::distill/cwd_fpn.py']
#   distill = dict(teacher=dict(
#       config='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py',
#       checkpoint='retinanet_x101.pth'))
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses={
        f'cwd_fpn{i}': dict(type='ChannelWiseDivergence', tau=1.0,
                            loss_weight=10.0, student=f'neck[{i}]',
                            teacher=f'neck[{i}]')
        for i in range(5)
    })

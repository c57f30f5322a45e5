# PKD on the five FPN levels of an mmdet detector with an FPN neck
# (Faster R-CNN, RetinaNet, ...); weight 6 as for Faster R-CNN in the paper
# (use 10 for RetinaNet).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses={
        f'pkd_fpn{i}': dict(type='PKDLoss', loss_weight=6.0,
                            student=f'neck[{i}]', teacher=f'neck[{i}]')
        for i in range(5)
    })

# PointDistiller's local (kNN graph) distillation on dense 2D maps: the three
# neck outputs of an mmdet detector (RTMDet; use range(5) for FPN necks).
# On each level the 256 cells of largest teacher activation (max over
# channels) are the centres, with their 128 nearest cells in the teacher's
# feature space; uniform weights (tau=None), as the official code's
# SECOND/backbone path effectively computes. Mix after the student config:
#   _base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
#             'mmkd::distill/pointdistiller_neck.py']
#   distill = dict(teacher=dict(config='mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py',
#                               checkpoint='work_dirs/rtmdet_s/epoch_300.pth'))
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses={
        f'pointdistiller_neck{i}': dict(
            type='PointDistillerLoss',
            student=f'neck[{i}]',
            teacher=f'neck[{i}]',
            importance='teacher_max',
            num_items=256,
            num_neighbors=128,
            tau=None,
            out_channels=32,
            loss_weight=2.0)
        for i in range(3)
    })

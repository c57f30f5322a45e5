# PKD (Pearson correlation) on the three neck outputs of an RTMDet student.
# Mix after any mmdet RTMDet config and name the teacher:
#   _base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
#             'mmkd::distill/rtmdet_pkd_fpn.py']
#   distill = dict(teacher=dict(config='mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py',
#                               checkpoint='work_dirs/rtmdet_s/epoch_300.pth'))
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses={
        f'pkd_fpn{i}': dict(type='PKDLoss', loss_weight=6.0,
                            student=f'neck[{i}]', teacher=f'neck[{i}]')
        for i in range(3)
    })

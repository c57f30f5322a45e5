# PointDistiller (CVPR 2023) on the two backbone levels of an mmdet3d SECOND
# student (voxel-based; needs mmdet3d 1.4.0 and spconv 2.x, e.g.
# `pip install spconv==2.3.8 cumm==0.7.11`, the CPU wheels). Mix after the
# student's config and name the teacher:
#   _base_ = ['my_second_4x_student.py',
#             'mmkd::distill/pointdistiller_second.py']
#   distill = dict(teacher=dict(
#       config='mmdet3d::second/second_hv_secfpn_8xb6-80e_kitti-3d-3class.py',
#       checkpoint='second_kitti.pth'))
# The official values of its (commented-out) SECOND path: on each BEV level
# the 256 cells with the largest teacher activation (max over channels) are
# the centres, 128 neighbours in the teacher's feature space, adapters to
# 32 channels, weight 2. Its weights are a softmax over a single element
# (uniform), hence tau=None here. The backbone levels of teacher and student
# must have the same size (the same voxel grid and strides).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses={
        f'pointdistiller_backbone{i}': dict(
            type='PointDistillerLoss',
            student=f'backbone[{i}]',
            teacher=f'backbone[{i}]',
            importance='teacher_max',
            num_items=256,
            num_neighbors=128,
            tau=None,
            out_channels=32,
            loss_weight=2.0)
        for i in range(2)
    })

# PointDistiller (CVPR 2023) on the pillar features of an mmdet3d
# PointPillars student (needs mmdet3d 1.4.0, which tools/setup_env.sh
# installs). Mix after the student's config and name the teacher:
#   _base_ = ['my_pointpillars_4x_student.py',
#             'mmkd::distill/pointdistiller_pointpillars.py']
#   distill = dict(teacher=dict(
#       config='mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
#       checkpoint='pointpillars_kitti.pth'))
# The official values: the 6000 pillars with the most points are the centres,
# 128 neighbours in the teacher's feature space, weights
# softmax(num_points / 0.01) * N, adapters to 32 channels, weight 2. The
# teacher gets the student's voxelization (keep the same voxel_layer).
runner_type = 'mmkd.DistillRunner'
distill = dict(
    teacher=dict(config=None, checkpoint=None),
    losses=dict(
        pointdistiller=dict(
            type='PointDistillerLoss',
            student='voxel_encoder',
            # the pillar features and the points per pillar (importance)
            teacher=['voxel_encoder', 'voxel_encoder:input[1]'],
            num_items=6000,
            num_neighbors=128,
            tau=0.01,
            out_channels=32,
            importance='num_points',
            loss_weight=2.0)))

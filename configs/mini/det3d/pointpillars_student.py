# The 4x smaller PointPillars student of PointDistiller (channels / 2:
# PFN [32], backbone [32, 64, 128], neck [64, 64, 64]) on the teacher's mini
# range, grid and data (pointpillars_teacher.py).
_base_ = ['./pointpillars_teacher.py']

model = dict(
    voxel_encoder=dict(feat_channels=[32]),
    middle_encoder=dict(in_channels=32),
    backbone=dict(in_channels=32, out_channels=[32, 64, 128]),
    neck=dict(in_channels=[32, 64, 128], out_channels=[64, 64, 64]),
    bbox_head=dict(in_channels=192, feat_channels=192))

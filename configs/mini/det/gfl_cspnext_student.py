# GFL student for mmkd's mini shapes data: the mini GFL teacher
# (gfl_cspnext_teacher.py) at the mini RTMDet student's size (CSPNeXt
# deepen 0.167, widen 0.25; 64 channels in neck and head). Same head,
# same reg_max (16): LD distils the teacher's box-edge distributions.
_base_ = ['./gfl_cspnext_teacher.py']

model = dict(
    backbone=dict(deepen_factor=0.167, widen_factor=0.25),
    neck=dict(in_channels=[64, 128, 256], out_channels=64),
    bbox_head=dict(in_channels=64, feat_channels=64))

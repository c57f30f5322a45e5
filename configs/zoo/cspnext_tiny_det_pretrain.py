# A backbone pretrained by mmkd on the embedded data, for students that
# start from one (as ImageNet pretraining starts DWPose's): RTMDet with
# RTMPose-t's backbone (CSPNeXt-tiny: deepen 0.167, widen 0.375) trained
# to detect on all 320 shapes scenes for 24 epochs, as the det_pkd teacher.
# Its `backbone.` weights load into mmpose's RTMPose-t unchanged.
_base_ = ['./rtmdet_teacher_24e.py']

model = dict(
    backbone=dict(deepen_factor=0.167, widen_factor=0.375),
    neck=dict(in_channels=[96, 192, 384], out_channels=96),
    bbox_head=dict(in_channels=96, feat_channels=96))

# Narrow two-stage student on mmkd's mini shapes data: Faster R-CNN with a
# half-width ResNet-18 (base/stem channels 32, from scratch) and a 64-channel
# FPN. Its FPN channels (64) differ from the teacher's (128) on purpose:
# feature distillation needs a connector.
_base_ = './faster_rcnn_r18_teacher.py'

model = dict(
    backbone=dict(base_channels=32, stem_channels=32),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=128)))

# Semantic segmentation student on mmkd's mini shapes data: the same PSPNet
# R-18-D8 at half width (ResNetV1c-18 with stem/base channels 32, PSP head
# with 64 channels), from scratch. Its logits have the teacher's shape
# (4 classes) and its features half the teacher's channels.
_base_ = './pspnet_r18_teacher.py'

model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    decode_head=dict(in_channels=256, channels=64),
    auxiliary_head=dict(in_channels=128, channels=32))

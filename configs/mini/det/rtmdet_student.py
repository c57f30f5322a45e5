# RTMDet student for mmkd's mini shapes data: RTMDet-tiny depth with a
# quarter width (deepen 0.167, widen 0.25, 2.2 M params), from scratch, with
# the teacher's data and schedule (rtmdet_teacher.py).
# Measured (12 epochs = 480 iterations of 8 images at 128 px, 1 torch
# thread): 2.3-3.2 min on the shared 2-core machine, bbox mAP 0.175
# (seed 0); other seeds gave 0.15-0.38.
#   python tools/train.py configs/mini/det/rtmdet_student.py      # alone
# Distill it from configs/mini/det/rtmdet_teacher.py with an mmkd recipe.
_base_ = ['./rtmdet_teacher.py']

model = dict(
    backbone=dict(deepen_factor=0.167, widen_factor=0.25),
    neck=dict(in_channels=[64, 128, 256], out_channels=64),
    bbox_head=dict(in_channels=64, feat_channels=64))

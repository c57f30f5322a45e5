# Teacher: RTMPose-s on the mini keypoint data: the student config
# (rtmpose_student.py: mmpose's RTMPose-t with small input, BN instead of
# SyncBN, no pretrained download, CPU schedule) at mmpose's RTMPose-s size
# (deepen 0.33, widen 0.5, a 512-channel head): with the pretrained download
# off, all that tells mmpose's RTMPose-s config from its RTMPose-t one.
_base_ = ['./rtmpose_student.py']

model = dict(
    backbone=dict(deepen_factor=0.33, widen_factor=0.5),
    head=dict(in_channels=512))

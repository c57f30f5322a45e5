# RTMPose-t (mmpose's COCO config, unchanged model) on the mini keypoint data:
# small input, BN instead of SyncBN, no pretrained download, CPU schedule.
_base_ = [
    'mmpose::body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py',  # noqa: E501
    '../../_base_/datasets/mini_pose.py',
    '../../_base_/schedules/mini_pose_cosine.py',
]

codec = {{_base_.mini_pose_codec}}
model = dict(
    backbone=dict(norm_cfg=dict(type='BN'), init_cfg=None),
    head=dict(
        input_size={{_base_.mini_pose_input_size}},
        in_featuremap_size={{_base_.mini_pose_featuremap_size}},
        decoder={{_base_.mini_pose_codec}}))

train_pipeline = {{_base_.mini_pose_train_pipeline}}
val_pipeline = {{_base_.mini_pose_val_pipeline}}
train_dataloader = {{_base_.mini_pose_train_dataloader}}
val_dataloader = {{_base_.mini_pose_val_dataloader}}
test_dataloader = {{_base_.mini_pose_val_dataloader}}
val_evaluator = {{_base_.mini_pose_val_evaluator}}
test_evaluator = {{_base_.mini_pose_val_evaluator}}

train_cfg = dict(max_epochs={{_base_.mini_pose_max_epochs}}, val_interval=10)
optim_wrapper = dict(optimizer=dict(lr={{_base_.mini_pose_base_lr}}))
param_scheduler = {{_base_.mini_pose_param_scheduler}}
# no EMA, no pipeline switch at RTMPose's epoch 390
custom_hooks = []
default_hooks = dict(logger=dict(interval=10))

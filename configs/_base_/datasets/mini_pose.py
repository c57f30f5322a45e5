# Mini COCO-keypoint data set (mmkd.datasets.generate_mini_data) for RTMPose.
#
# RTMPose configs are monolithic (model, data and schedule in one file), and
# mmengine refuses a key defined by two `_base_` files, so this base defines
# only `mini_pose_*` names; a model config that lists it next to an RTMPose
# config picks them up with `{{_base_.mini_pose_...}}` (see
# configs/mini/pose/rtmpose_student.py).
#
# Data root: $MMKD_DATA_ROOT (default data/mini, relative to the working dir);
# write it with
#   python tools/make_mini_data.py
mini_pose_data_root = '{{$MMKD_DATA_ROOT:data/mini}}/'

# (w, h); small for CPU. The SimCC sigmas are RTMPose's (4.9, 5.66) at
# 192x256, scaled to this input size.
mini_pose_input_size = (96, 128)
mini_pose_featuremap_size = (3, 4)  # input_size // 32 (RTMCCHead)
mini_pose_codec = dict(
    type='SimCCLabel',
    input_size=mini_pose_input_size,
    sigma=(2.45, 2.83),
    simcc_split_ratio=2.0,
    normalize=False,
    use_dark=False)

# Lighter augmentation than RTMPose's (no half-body, rotation, HSV or
# cut-out): the models train from scratch for a few hundred iterations.
mini_pose_train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        scale_factor=[0.9, 1.1],
        rotate_factor=0),
    dict(type='TopdownAffine', input_size=mini_pose_input_size),
    dict(type='GenerateTarget', encoder=mini_pose_codec),
    dict(type='PackPoseInputs')
]
mini_pose_val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=mini_pose_input_size),
    dict(type='PackPoseInputs')
]

mini_pose_train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CocoDataset',
        data_root=mini_pose_data_root,
        data_mode='topdown',
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='images/train/'),
        pipeline=mini_pose_train_pipeline,
    ))
mini_pose_val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='CocoDataset',
        data_root=mini_pose_data_root,
        data_mode='topdown',
        ann_file='annotations/person_keypoints_val.json',
        data_prefix=dict(img='images/val/'),
        test_mode=True,
        pipeline=mini_pose_val_pipeline,
    ))
mini_pose_val_evaluator = dict(
    type='CocoMetric',
    ann_file=mini_pose_data_root + 'annotations/person_keypoints_val.json')

# PointPillars teacher for mmkd's mini KITTI-format point clouds
# (mmkd.datasets.generate_mini_kitti into $MMKD_DATA_ROOT/kitti): mmdet3d's
# own 3-class KITTI PointPillars with a smaller point-cloud range and grid
# (41 m x 41 m at 0.32 m pillars: a 128 x 128 BEV grid, at most 16 points a
# pillar where KITTI's has 32) so that it trains on the CPU. Widths and
# depths are mmdet3d's (PFN 64, backbone [64, 128, 256]).
# No ground-truth database sampling (ObjectSample): the mini set has no
# kitti_dbinfos. KittiMetric's IoU kernels are numba.cuda ones: on a
# machine without CUDA run evaluation with NUMBA_ENABLE_CUDASIM=1.
_base_ = [
    'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py',  # noqa: E501
    '../../_base_/schedules/mini_det3d_cyclic.py'
]

point_cloud_range = [0, -20.48, -3, 40.96, 20.48, 1]
voxel_size = [0.32, 0.32, 4]
model = dict(
    data_preprocessor=dict(
        voxel_layer=dict(
            point_cloud_range=point_cloud_range,
            voxel_size=voxel_size,
            max_voxels=(8000, 12000),
            max_num_points=16)),
    voxel_encoder=dict(
        voxel_size=voxel_size, point_cloud_range=point_cloud_range),
    middle_encoder=dict(output_shape=[128, 128]),
    bbox_head=dict(
        anchor_generator=dict(ranges=[
            [0, -20.48, -0.6, 40.96, 20.48, -0.6],
            [0, -20.48, -0.6, 40.96, 20.48, -0.6],
            [0, -20.48, -1.78, 40.96, 20.48, -1.78],
        ])))

# data: mmkd's mini KITTI-format clouds (validation frames in their own
# folder, see mmkd/datasets/mini_kitti.py)
data_root = '{{$MMKD_DATA_ROOT:data/mini}}/kitti/'
class_names = ['Pedestrian', 'Cyclist', 'Car']
metainfo = dict(classes=class_names)
input_modality = dict(use_lidar=True, use_camera=False)
load_points = dict(
    type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4)
train_pipeline = [
    load_points,
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(
        type='GlobalRotScaleTrans',
        rot_range=[-0.78539816, 0.78539816],
        scale_ratio_range=[0.95, 1.05]),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PointShuffle'),
    dict(
        type='Pack3DDetInputs',
        keys=['points', 'gt_labels_3d', 'gt_bboxes_3d'])
]
test_pipeline = [
    load_points,
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points'])
]
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='KittiDataset',
        data_root=data_root,
        ann_file='kitti_infos_train.pkl',
        data_prefix=dict(pts='training/velodyne'),
        pipeline=train_pipeline,
        modality=input_modality,
        metainfo=metainfo,
        test_mode=False,
        box_type_3d='LiDAR'))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='KittiDataset',
        data_root=data_root,
        ann_file='kitti_infos_val.pkl',
        data_prefix=dict(pts='validation/velodyne'),
        pipeline=test_pipeline,
        modality=input_modality,
        metainfo=metainfo,
        test_mode=True,
        box_type_3d='LiDAR'))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='KittiMetric',
    ann_file=data_root + 'kitti_infos_val.pkl',
    metric='bbox',
    pcd_limit_range=point_cloud_range)
test_evaluator = val_evaluator

# schedule: mmdet3d's one-cycle shape, shortened for the CPU (see
# configs/_base_/schedules/mini_det3d_cyclic.py)
lr = _base_.mini_det3d_lr
epoch_num = 20
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = _base_.mini_det3d_cyclic[epoch_num]
train_cfg = dict(by_epoch=True, max_epochs=epoch_num, val_interval=epoch_num)

"""The training pipelines of the packages' own configs (read from their
`.mim/configs`, unchanged: RTMPose's Albumentation, RTMDet's mosaic and
mix-up, PSPNet's photometric distortion ...) run on the generated mini data,
so the stack mmkd installs is complete for the configs users distill."""
import copy

import torch
from mmengine.registry import DATASETS, init_default_scope

from mmkd.datasets import SHAPE_CLASSES
from mmkd.models.teacher import load_config

RTMPOSE = 'mmpose::body_2d_keypoint/rtmpose/coco/rtmpose-m_8xb256-420e_coco-256x192.py'  # noqa: E501
RTMDET = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
PSPNET = 'mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'


def build(dataset_cfg: dict, scope: str, **data):
    init_default_scope(scope)
    cfg = copy.deepcopy(dataset_cfg)
    cfg.update(data)
    return DATASETS.build(cfg)


def pipelines(cfg, hook_type: str) -> list:
    """The config's train pipeline and, where a PipelineSwitchHook changes it
    for the last epochs, that second pipeline too."""
    found = [cfg.train_dataloader.dataset.pipeline]
    for hook in cfg.get('custom_hooks', []):
        if hook['type'] == hook_type:
            found.append(hook['switch_pipeline'])
    return found


def test_rtmpose_pipelines_with_albumentation(mini_data):
    cfg = load_config(RTMPOSE)
    steps = pipelines(cfg, 'mmdet.PipelineSwitchHook')
    assert len(steps) == 2
    assert any(t['type'] == 'Albumentation' for t in steps[0])
    for pipeline in steps:
        dataset = build(
            cfg.train_dataloader.dataset, 'mmpose', data_root=mini_data + '/',
            ann_file='annotations/person_keypoints_train.json',
            data_prefix=dict(img='images/train/'), pipeline=pipeline)
        for i in range(3):
            sample = dataset[i]
            assert sample['inputs'].shape == (3, 256, 192)
            labels = sample['data_samples'].gt_instance_labels
            # SimCC targets of the real codec (split ratio 2): 384 x, 512 y
            assert labels.keypoint_x_labels.shape == (1, 17, 384)
            assert labels.keypoint_y_labels.shape == (1, 17, 512)


def test_rtmdet_pipelines_with_mosaic_and_mixup(mini_data):
    cfg = load_config(RTMDET)
    steps = pipelines(cfg, 'PipelineSwitchHook')
    assert len(steps) == 2
    for pipeline in steps:
        dataset = build(
            cfg.train_dataloader.dataset, 'mmdet', data_root=mini_data + '/',
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='images/train/'),
            metainfo=dict(classes=SHAPE_CLASSES), pipeline=pipeline)
        boxes = 0
        for i in range(4):
            sample = dataset[i]
            assert sample['inputs'].shape == (3, 640, 640)
            gt = sample['data_samples'].gt_instances
            assert gt.bboxes.shape[1] == 4 and len(gt.labels) == len(gt.bboxes)
            assert torch.all(gt.labels < len(SHAPE_CLASSES))
            boxes += len(gt.bboxes)
        assert boxes > 0


def test_pspnet_pipeline(mini_data):
    cfg = load_config(PSPNET)
    dataset = build(
        cfg.train_dataloader.dataset, 'mmseg', type='BaseSegDataset',
        data_root=mini_data + '/seg/',
        data_prefix=dict(img_path='images/train', seg_map_path='labels/train'),
        img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=False)
    for i in range(3):
        sample = dataset[i]
        # resized to the (2048, 1024) scale x [0.5, 2], cropped to 512 x 1024
        # at most (the square images stay narrower); padded by the model
        image = sample['inputs']
        assert image.shape[0] == 3 and image.shape[1] == 512
        assert 512 <= image.shape[2] <= 1024
        seg = sample['data_samples'].gt_sem_seg.data
        assert seg.shape[1:] == image.shape[1:]
        assert set(seg.unique().tolist()) <= {0, 1, 2, 3, 255}

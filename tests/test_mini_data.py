"""mmkd's mini data: generation, loading by the real OpenMMLab dataset
classes, ground truth scored by the real metrics, and the mini configs
training 2 iterations through mmengine's Runner."""
import copy
import filecmp
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmkd.datasets import (COCO_KEYPOINT_NAMES, SHAPE_CLASSES,
                           generate_mini_data)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = dict(num_train=4, num_val=3, img_size=96)


def _tree(root):
    out = []
    for d, _, files in os.walk(root):
        out += [osp.relpath(osp.join(d, f), root) for f in files]
    return sorted(out)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mini'))
    generate_mini_data(root, seed=0, **TINY)
    return root


# ---------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------
def test_layout_and_formats(data_root):
    for split in ('train', 'val'):
        n = TINY[f'num_{split}']
        det = json.load(
            open(osp.join(data_root, f'annotations/instances_{split}.json')))
        assert [c['name'] for c in det['categories']] == list(SHAPE_CLASSES)
        assert len(det['images']) == n
        assert len(det['annotations']) >= 2 * n
        for a in det['annotations']:
            x, y, w, h = a['bbox']
            assert w > 0 and h > 0 and a['area'] > 0 and a['iscrowd'] == 0
            assert 0 <= x and x + w <= TINY['img_size']
            poly = np.array(a['segmentation'][0]).reshape(-1, 2)
            assert np.allclose(poly.min(0), [x, y], atol=0.02)
        kp = json.load(
            open(
                osp.join(data_root,
                         f'annotations/person_keypoints_{split}.json')))
        cat = kp['categories'][0]
        assert cat['name'] == 'person'
        assert cat['keypoints'] == COCO_KEYPOINT_NAMES
        assert len(cat['skeleton']) == 19
        assert len(kp['images']) == n and len(kp['annotations']) >= n
        for a in kp['annotations']:
            k = np.array(a['keypoints']).reshape(17, 3)
            assert set(np.unique(k[:, 2])) <= {0, 1, 2}
            assert a['num_keypoints'] == int((k[:, 2] > 0).sum()) > 0
            assert (k[k[:, 2] == 0, :2] == 0).all()
        img_names = set(os.listdir(osp.join(data_root, 'images', split)))
        assert {i['file_name'] for i in det['images']} | \
            {i['file_name'] for i in kp['images']} == img_names
        import cv2
        for i in det['images']:
            lbl = cv2.imread(
                osp.join(data_root, 'seg/labels', split, i['file_name']),
                cv2.IMREAD_UNCHANGED)
            assert lbl.dtype == np.uint8 and lbl.ndim == 2
            assert lbl.shape == (TINY['img_size'], ) * 2
            assert set(np.unique(lbl)) <= {0, 1, 2, 3}
            assert osp.exists(
                osp.join(data_root, 'seg/images', split, i['file_name']))


def test_deterministic_per_seed(tmp_path, data_root):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    generate_mini_data(a, seed=0, **TINY)
    generate_mini_data(b, seed=1, **TINY)
    files = _tree(data_root)
    assert files == _tree(a)
    match, mismatch, errors = filecmp.cmpfiles(
        data_root, a, files, shallow=False)
    assert not mismatch and not errors
    _, mismatch, _ = filecmp.cmpfiles(a, b, files, shallow=False)
    assert 'annotations/instances_train.json' in mismatch
    assert 'images/train/shapes_000000.png' in mismatch


def test_idempotent_and_regenerates_on_change(tmp_path):
    root = str(tmp_path / 'd')
    info = generate_mini_data(root, **TINY)
    assert not info['skipped']
    png = osp.join(root, 'images/train/shapes_000000.png')
    mtime = os.stat(png).st_mtime_ns
    info2 = generate_mini_data(root, **TINY)
    assert info2['skipped'] and info2['counts'] == info['counts']
    assert os.stat(png).st_mtime_ns == mtime
    # other parameters: redrawn, and no stale files left behind
    small = dict(TINY, num_train=2)
    info3 = generate_mini_data(root, **small)
    assert not info3['skipped']
    assert len(os.listdir(osp.join(root, 'images/train'))) == 4
    assert len(os.listdir(osp.join(root, 'seg/labels/train'))) == 2
    # a missing file is noticed
    os.remove(osp.join(root, 'seg/labels/train/shapes_000001.png'))
    assert not generate_mini_data(root, **small)['skipped']
    assert generate_mini_data(root, **small)['skipped']


# ---------------------------------------------------------------------------
# real dataset classes + metrics with ground truth as predictions
# ---------------------------------------------------------------------------
def _det_cfg(data_root, monkeypatch):
    from mmengine import Config
    monkeypatch.setenv('MMKD_DATA_ROOT', data_root)
    return Config.fromfile(
        osp.join(REPO, 'configs/mini/det/rtmdet_student.py'))


def test_mmdet_dataset_and_coco_metric(data_root, monkeypatch):
    import torch
    from mmdet.evaluation import CocoMetric
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope
    from pycocotools.coco import COCO
    register_all_modules(init_default_scope=False)
    cfg = _det_cfg(data_root, monkeypatch)
    with DefaultScope.overwrite_default_scope('mmdet'):
        for key in ('train_dataloader', 'val_dataloader'):
            ds = DATASETS.build(cfg[key].dataset)
            assert len(ds) == TINY['num_' + key.split('_')[0]]
            assert ds.metainfo['classes'] == SHAPE_CLASSES
            item = ds[0]
            assert item['inputs'].shape[0] == 3
            assert len(item['data_samples'].gt_instances) > 0

    ann_file = osp.join(data_root, 'annotations/instances_val.json')
    coco = COCO(ann_file)
    metric = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = ds.metainfo
    samples = []
    for img_id in coco.getImgIds():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        boxes = [[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                  a['bbox'][1] + a['bbox'][3]] for a in anns]
        masks = np.stack([coco.annToMask(a) for a in anns]).astype(bool)
        samples.append(
            dict(
                img_id=img_id,
                ori_shape=masks.shape[1:],
                pred_instances=dict(
                    bboxes=torch.tensor(boxes),
                    scores=torch.ones(len(anns)),
                    labels=torch.tensor([a['category_id'] - 1
                                         for a in anns]),
                    masks=torch.from_numpy(masks))))
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    assert res['coco/bbox_mAP'] == pytest.approx(1.0)
    assert res['coco/segm_mAP'] == pytest.approx(1.0)


def test_mmpose_dataset_and_coco_metric(data_root):
    from mmpose.datasets import CocoDataset
    from mmpose.evaluation import CocoMetric
    from mmengine.registry import DefaultScope
    from mmpose.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=(48, 64)),
        dict(type='PackPoseInputs')
    ]
    ann_file = 'annotations/person_keypoints_val.json'
    with DefaultScope.overwrite_default_scope('mmpose'):
        ds = CocoDataset(
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=dict(img='images/val/'),
            data_mode='topdown',
            pipeline=pipeline)
        item = ds[0]
    assert ds.metainfo['num_keypoints'] == 17
    assert ds.metainfo['keypoint_id2name'][9] == 'left_wrist'
    assert tuple(item['inputs'].shape) == (3, 64, 48)
    assert item['data_samples'].gt_instances.keypoints.shape == (1, 17, 2)

    metric = CocoMetric(ann_file=osp.join(data_root, ann_file))
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        samples.append(
            dict(
                id=info['id'],
                img_id=info['img_id'],
                pred_instances=dict(
                    keypoints=info['keypoints'],
                    keypoint_scores=np.ones((1, 17), np.float32)),
                gt_instances=dict(bbox_scores=np.ones(1, np.float32))))
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    assert res['coco/AP'] == pytest.approx(1.0)


def test_mmseg_dataset_and_iou_metric(data_root, monkeypatch):
    from mmengine import Config
    from mmseg.evaluation import IoUMetric
    from mmseg.registry import DATASETS
    from mmengine.registry import DefaultScope
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    monkeypatch.setenv('MMKD_DATA_ROOT', data_root)
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/mini/seg/pspnet_r18_student.py'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        train = DATASETS.build(cfg.train_dataloader.dataset)
        assert len(train) == TINY['num_train']
        crop = tuple(cfg.mini_seg_crop_size)
        assert tuple(train[0]['inputs'].shape) == (3, ) + crop
        ds = DATASETS.build(cfg.val_dataloader.dataset)
        items = [ds[i] for i in range(len(ds))]
    assert len(ds) == TINY['num_val']
    assert ds.metainfo['classes'] == ('background', ) + SHAPE_CLASSES
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = ds.metainfo
    samples = []
    for item in items:
        gt = item['data_samples'].gt_sem_seg.data
        assert gt.shape[-2:] == (TINY['img_size'], ) * 2
        samples.append(
            dict(
                pred_sem_seg=dict(data=gt[0].clone()),
                gt_sem_seg=dict(data=gt),
                img_path=item['data_samples'].img_path))
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    assert res['mIoU'] == pytest.approx(100.0)


# ---------------------------------------------------------------------------
# the example configs: load, build, 2 training iterations
# ---------------------------------------------------------------------------
CONFIGS = [
    'configs/mini/det/rtmdet_teacher.py',
    'configs/mini/det/rtmdet_student.py',
    'configs/mini/det/faster_rcnn_r18_teacher.py',
    'configs/mini/det/faster_rcnn_r18_student.py',
    'configs/mini/seg/pspnet_r18_teacher.py',
    'configs/mini/seg/pspnet_r18_student.py',
]


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_two_iterations(config, data_root, tmp_path,
                                      monkeypatch):
    from mmengine import Config
    from mmengine.runner import Runner
    monkeypatch.setenv('MMKD_DATA_ROOT', data_root)
    cfg = Config.fromfile(osp.join(REPO, config))
    assert cfg.train_dataloader.dataset.data_root.startswith(data_root)
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = osp.basename(config)[:-3] + '_' + tmp_path.name
    # 2 iterations (= one epoch) of batch 1; batch 2 for PSPNet, whose
    # 1x1 pyramid pooling BatchNorm needs more than one value per channel
    batch = 2 if '/seg/' in config else 1
    cfg.train_dataloader.batch_size = batch
    cfg.train_dataloader.dataset.indices = 2 * batch
    if 'max_iters' in cfg.train_cfg:
        cfg.train_cfg.max_iters = 2
        cfg.train_cfg.val_interval = 2
    else:
        cfg.train_cfg.max_epochs = 1
        cfg.train_cfg.val_interval = 1
    for key in ('val', 'test'):  # validation is covered by the metric tests
        cfg[f'{key}_dataloader'] = None
        cfg[f'{key}_cfg'] = None
        cfg[f'{key}_evaluator'] = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    assert runner.iter == 2

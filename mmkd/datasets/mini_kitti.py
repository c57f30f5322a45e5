"""Small KITTI-format point clouds for mmkd's 3D tests and demos.

Each frame is a ground plane 1.73 m below the sensor (points uniform in
azimuth and range, so they thin out with distance), box-shaped objects of
KITTI's car / pedestrian / cyclist sizes (points on their sides and top,
fewer with distance, a reflectance range per class) and a few poles as
unlabelled clutter, all in front of the car (x > 0) and inside the camera's
view. The files are those mmdet3d 1.4's ``KittiDataset`` and
``KittiMetric`` read::

    root/
      ImageSets/{train,val}.txt
      {training,validation}/velodyne/000000.bin   float32 (N, 4): x y z r
      {training,validation}/calib/000000.txt      P0-P3, R0_rect,
                                                  Tr_velo_to_cam,
                                                  Tr_imu_to_velo
      {training,validation}/label_2/000000.txt    KITTI labels (camera frame)
      {training,validation}/image_2/000000.png    a plain 1242 x 375 image
      kitti_infos_{train,val}.pkl                 mmdet3d 1.4 (info_version
                                                  1.1) infos, as its
                                                  update_infos_to_v2 writes
      mini_kitti_meta.json                        parameters (a second call
                                                  with the same ones returns
                                                  at once)

The validation frames live in their own folder so that ``sample_idx`` is the
position in the info list, which ``KittiMetric`` relies on. Frames are drawn
from ``numpy.random.default_rng((seed, split, index))``: deterministic, and a
bigger set starts with the frames of a smaller one. numpy and OpenCV only.
"""
import json
import os
import os.path as osp
import pickle
from typing import Dict, List

import cv2
import numpy as np

__all__ = ['generate_mini_kitti', 'KITTI_CLASSES', 'LIDAR_HEIGHT']

#: the classes of mmdet3d's info files (the label of each is its index)
KITTI_CLASSES = ('Pedestrian', 'Cyclist', 'Car', 'Van', 'Truck',
                 'Person_sitting', 'Tram', 'Misc')
LIDAR_HEIGHT = 1.73
IMG_W, IMG_H = 1242, 375
# (l, w, h) in metres, reflectance range, objects per frame (min, max)
_OBJECTS = dict(
    Car=((3.9, 1.6, 1.56), (0.6, 0.9), (2, 5)),
    Pedestrian=((0.8, 0.6, 1.73), (0.3, 0.5), (1, 3)),
    Cyclist=((1.76, 0.6, 1.73), (0.1, 0.25), (1, 2)))
# KITTI frame 000000's camera; lidar -> camera: x_c = -y, y_c = -z, z_c = x
_P2 = np.array([[721.5377, 0., 609.5593, 44.85728],
                [0., 721.5377, 172.854, 0.2163791],
                [0., 0., 1., 0.002745884], [0., 0., 0., 1.]])
_TR_VELO_TO_CAM = np.array([[0., -1., 0., 0.], [0., 0., -1., -0.08],
                            [1., 0., 0., -0.27], [0., 0., 0., 1.]])
_SPLITS = dict(train=(0, 'training'), val=(1, 'validation'))
KITTI_META_FILE = 'mini_kitti_meta.json'


def _box_corners(box: np.ndarray) -> np.ndarray:
    """(8, 3) corners of a LiDAR box (x, y, z_bottom, l, w, h, yaw)."""
    x, y, z, l, w, h, yaw = box
    dx, dy = np.meshgrid([-l / 2, l / 2], [-w / 2, w / 2], indexing='ij')
    local = np.stack([np.repeat(dx.ravel(), 2), np.repeat(dy.ravel(), 2),
                      np.tile([0., h], 4)], 1)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return local @ rot.T + np.array([x, y, z])


def _in_box(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y, z, l, w, h, yaw = box
    d = points[:, :2] - [x, y]
    c, s = np.cos(yaw), np.sin(yaw)
    u, v = d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c
    return ((np.abs(u) <= l / 2) & (np.abs(v) <= w / 2)
            & (points[:, 2] >= z) & (points[:, 2] <= z + h))


def _box_surface(rng: np.random.Generator, box: np.ndarray,
                 num: int) -> np.ndarray:
    """``num`` points on the four sides and the top of a box."""
    x, y, z, l, w, h, yaw = box
    areas = np.array([l * h, l * h, w * h, w * h, l * w])
    face = rng.choice(5, num, p=areas / areas.sum())
    u = rng.uniform(-0.5, 0.5, num)
    v = rng.uniform(0, 1, num)
    local = np.zeros((num, 3))
    for f, (sx, sy) in enumerate([(None, -1), (None, 1), (-1, None),
                                  (1, None)]):
        sel = face == f
        if sx is None:
            local[sel] = np.stack(
                [u[sel] * l, np.full(sel.sum(), sy * w / 2), v[sel] * h], 1)
        else:
            local[sel] = np.stack(
                [np.full(sel.sum(), sx * l / 2), u[sel] * w, v[sel] * h], 1)
    sel = face == 4
    local[sel] = np.stack([u[sel] * l, rng.uniform(-0.5, 0.5, sel.sum()) * w,
                           np.full(sel.sum(), h)], 1)
    local += rng.normal(0, 0.02, local.shape)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return local @ rot.T + np.array([x, y, z])


def _project(points: np.ndarray) -> np.ndarray:
    """LiDAR points (N, 3) -> pixels (N, 2) of camera 2."""
    cam = np.c_[points, np.ones(len(points))] @ (_P2 @ _TR_VELO_TO_CAM).T
    return cam[:, :2] / cam[:, 2:3]


def _draw_frame(rng: np.random.Generator, num_ground: int):
    """Points (N, 4) and the objects: list of (name, lidar box)."""
    ground_z = -LIDAR_HEIGHT
    objects: List = []
    for name, (size, _, (lo, hi)) in _OBJECTS.items():
        for _ in range(rng.integers(lo, hi + 1)):
            for _ in range(20):  # a free spot in view
                dist = rng.uniform(5., 36.)
                y = rng.uniform(-0.55, 0.55) * dist
                dims = np.array(size) * rng.uniform(0.9, 1.1, 3)
                box = np.array([dist, y, ground_z, *dims,
                                rng.uniform(-np.pi, np.pi)])
                if all(np.hypot(*(box[:2] - b[:2])) > (dims[0] + b[3]) / 2 + 1
                       for _, b in objects):
                    objects.append((name, box))
                    break
    # ground: uniform in azimuth and range, as rings thin out with distance
    r = rng.uniform(2., 45., num_ground)
    az = rng.uniform(-np.pi / 2, np.pi / 2, num_ground)
    ground = np.stack([r * np.cos(az), r * np.sin(az),
                       ground_z + rng.normal(0, 0.03, num_ground)], 1)
    keep = ~np.any([_in_box(ground, b) for _, b in objects], axis=0) \
        if objects else np.ones(num_ground, bool)
    parts = [np.c_[ground[keep], rng.uniform(0., 0.3, keep.sum())]]
    for name, box in objects:
        num = int(np.clip(6000 / box[0]**1.2 * box[5], 25, 400))
        refl = rng.uniform(*_OBJECTS[name][1], num)
        parts.append(np.c_[_box_surface(rng, box, num), refl])
    for _ in range(rng.integers(2, 6)):  # poles: clutter, no label
        pole = np.array([rng.uniform(3, 40), rng.uniform(-20, 20), ground_z,
                         0.2, 0.2, rng.uniform(2., 4.), 0.])
        parts.append(np.c_[_box_surface(rng, pole, 40),
                           rng.uniform(0.3, 0.6, 40)])
    points = np.concatenate(parts).astype(np.float32)
    return points[rng.permutation(len(points))], objects


def _label(name: str, box: np.ndarray, points: np.ndarray) -> Dict:
    """KITTI annotation (camera frame) of a LiDAR box."""
    x, y, z, l, w, h, yaw = box
    loc = (_TR_VELO_TO_CAM @ [x, y, z, 1.])[:3]
    ry = (-yaw - np.pi / 2 + np.pi) % (2 * np.pi) - np.pi
    px = _project(_box_corners(box))
    bbox = [max(0., px[:, 0].min()), max(0., px[:, 1].min()),
            min(IMG_W - 1., px[:, 0].max()), min(IMG_H - 1., px[:, 1].max())]
    height = bbox[3] - bbox[1]
    difficulty = 0 if height >= 40 else 1 if height >= 25 else 2
    return dict(name=name, location=loc, dimensions=(l, h, w),
                rotation_y=ry, alpha=ry - np.arctan2(loc[0], loc[2]),
                bbox=bbox, difficulty=difficulty,
                num_points=int(_in_box(points, box).sum()))


def _calib_text() -> str:
    p = ' '.join(f'{v:.12e}' for v in _P2[:3].ravel())
    eye = ' '.join(f'{v:.12e}' for v in np.eye(3).ravel())
    tr = ' '.join(f'{v:.12e}' for v in _TR_VELO_TO_CAM[:3].ravel())
    imu = ' '.join(f'{v:.12e}' for v in np.eye(4)[:3].ravel())
    return (f'P0: {p}\nP1: {p}\nP2: {p}\nP3: {p}\nR0_rect: {eye}\n'
            f'Tr_velo_to_cam: {tr}\nTr_imu_to_velo: {imu}\n')


def _info(idx: int, labels: List[Dict]) -> Dict:
    """One mmdet3d 1.4 data info (the fields update_infos_to_v2 writes)."""
    lidar2cam = _TR_VELO_TO_CAM  # R0_rect is the identity
    cams = {f'CAM{i}': dict(cam2img=_P2.tolist(),
                            lidar2img=(_P2 @ lidar2cam).tolist())
            for i in range(4)}
    cams['CAM2'].update(img_path=f'{idx:06d}.png', height=IMG_H,
                        width=IMG_W, lidar2cam=lidar2cam.tolist())
    cams['R0_rect'] = np.eye(4).tolist()
    instances = []
    for i, lab in enumerate(labels):
        label = KITTI_CLASSES.index(lab['name'])
        l, h, w = lab['dimensions']
        center = lab['location'] - [0., h / 2, 0.]
        uvd = _P2[:3] @ [*center, 1.]
        instances.append(dict(
            bbox=[float(v) for v in lab['bbox']], bbox_label=label,
            bbox_3d=[*map(float, lab['location']), l, h, w,
                     float(lab['rotation_y'])],
            bbox_label_3d=label, depth=float(uvd[2]),
            center_2d=[float(uvd[0] / uvd[2]), float(uvd[1] / uvd[2])],
            num_lidar_pts=lab['num_points'], difficulty=lab['difficulty'],
            truncated=0.0, occluded=0, alpha=float(lab['alpha']),
            score=0.0, index=i, group_id=i))
    return dict(sample_idx=idx, images=cams,
                lidar_points=dict(num_pts_feats=4, lidar_path=f'{idx:06d}.bin',
                                  Tr_velo_to_cam=lidar2cam.tolist(),
                                  Tr_imu_to_velo=np.eye(4).tolist()),
                instances=instances)


def generate_mini_kitti(root: str, seed: int = 0, num_train: int = 32,
                        num_val: int = 8, num_ground: int = 6000) -> str:
    """Write the mini KITTI-format set under ``root`` (see the module
    docstring) and return ``root``.

    Args:
        root (str): Output folder.
        seed (int): Seed of every frame's generator.
        num_train (int): Training frames.
        num_val (int): Validation frames.
        num_ground (int): Ground points per frame (objects add theirs).
    """
    params = dict(seed=int(seed), num_train=int(num_train),
                  num_val=int(num_val), num_ground=int(num_ground))
    meta_path = osp.join(root, KITTI_META_FILE)
    if osp.exists(meta_path) and all(
            osp.exists(osp.join(root, f'kitti_infos_{s}.pkl'))
            for s in _SPLITS):
        with open(meta_path) as f:
            if json.load(f) == params:
                return root
        os.remove(meta_path)  # redrawn; an interrupted run is redone
    calib = _calib_text()
    blank = np.full((IMG_H, IMG_W, 3), 96, np.uint8)
    os.makedirs(osp.join(root, 'ImageSets'), exist_ok=True)
    for split, num in (('train', num_train), ('val', num_val)):
        split_id, folder = _SPLITS[split]
        for sub in ('velodyne', 'calib', 'label_2', 'image_2'):
            os.makedirs(osp.join(root, folder, sub), exist_ok=True)
        infos = []
        for idx in range(num):
            rng = np.random.default_rng((seed, split_id, idx))
            points, objects = _draw_frame(rng, num_ground)
            name = f'{idx:06d}'
            points.tofile(osp.join(root, folder, 'velodyne', name + '.bin'))
            with open(osp.join(root, folder, 'calib', name + '.txt'),
                      'w') as f:
                f.write(calib)
            cv2.imwrite(osp.join(root, folder, 'image_2', name + '.png'),
                        blank)
            labels = [_label(n, b, points) for n, b in objects]
            with open(osp.join(root, folder, 'label_2', name + '.txt'),
                      'w') as f:
                for lab in labels:
                    x1, y1, x2, y2 = lab['bbox']
                    l, h, w = lab['dimensions']
                    f.write(f"{lab['name']} 0.00 0 {lab['alpha']:.2f} "
                            f'{x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} '
                            f'{h:.2f} {w:.2f} {l:.2f} '
                            + ' '.join(f'{v:.2f}' for v in lab['location'])
                            + f" {lab['rotation_y']:.2f}\n")
            infos.append(_info(idx, labels))
        with open(osp.join(root, 'ImageSets', f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{i:06d}\n' for i in range(num)))
        metainfo = dict(categories={c: i for i, c in enumerate(KITTI_CLASSES)},
                        dataset='kitti', info_version='1.1')
        with open(osp.join(root, f'kitti_infos_{split}.pkl'), 'wb') as f:
            pickle.dump(dict(metainfo=metainfo, data_list=infos), f)
    with open(meta_path, 'w') as f:
        json.dump(params, f)
    return root

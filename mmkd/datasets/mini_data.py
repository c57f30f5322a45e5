"""A small procedurally generated data set for mmkd's tests and demos.

Nothing can be downloaded where mmkd is developed and tested, so mmkd draws
its own data: coloured shapes on textured backgrounds (detection, instance
and semantic segmentation) and stick figures (17 COCO body keypoints). All
files are in the standard formats the real OpenMMLab dataset classes read
(``mmdet.datasets.CocoDataset``, ``mmpose.datasets.CocoDataset``,
``mmseg.datasets.BaseSegDataset``).

Layout written under ``root``::

    root/
      mini_data_meta.json                  parameters + counts (idempotency)
      images/train/shapes_000000.png ...   shape scenes (detection)
      images/train/person_000000.png ...   stick-figure scenes (pose)
      images/val/...                       same for val
      annotations/instances_{train,val}.json          COCO detection:
          3 categories (1 circle, 2 square, 3 triangle), bbox [x, y, w, h],
          polygon ``segmentation``, ``area`` = polygon area, ``iscrowd`` 0;
          its ``images`` list only the ``shapes_*`` files.
      annotations/person_keypoints_{train,val}.json   COCO keypoints:
          1 category 'person' with the 17 COCO keypoint names and skeleton;
          per person ``bbox``, ``keypoints`` (17 * [x, y, v]),
          ``num_keypoints``,
          ``area`` (= 0.53 * bbox area, mmpose's own default ratio),
          ``iscrowd`` 0; its ``images`` list only the ``person_*`` files.
      seg/images/{train,val}/shapes_*.png  the same scenes as the detection set
      seg/labels/{train,val}/shapes_*.png  uint8 label maps: 0 background,
          1 circle, 2 square, 3 triangle (255 is never written)

Pose and detection use separate images in the same folders: the pose files
start with ``person_``, the shape files with ``shapes_``; each annotation
file lists only its own images, so both tasks use
``data_prefix=dict(img='images/train/')``.

The figures face the camera, so a person's *left* keypoints lie on the
image's right (as in COCO); limbs of both sides share colours, so horizontal
flipping with the usual COCO ``flip_indices`` stays consistent. Keypoints
hidden by an occluding patch have visibility 1, keypoints outside the image
are ``0, 0, 0`` (visibility 0). Person boxes cover the whole figure (occluded
parts included) clipped to the image.

Every image is drawn from its own ``numpy.random.default_rng`` seeded with
``(seed, split, task, index)``, so the data are deterministic per ``seed``
and a bigger data set starts with the images of a smaller one.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'generate_mini_data', 'SHAPE_CLASSES', 'SHAPE_PALETTE',
    'COCO_KEYPOINT_NAMES', 'COCO_SKELETON', 'META_FILE'
]

#: bump when the drawing code changes so that old data are regenerated
DATA_VERSION = 2
META_FILE = 'mini_data_meta.json'

SHAPE_CLASSES = ('circle', 'square', 'triangle')
#: palette for visualising the semantic label maps (background excluded)
SHAPE_PALETTE = [(220, 20, 60), (0, 128, 255), (0, 200, 0)]

COCO_KEYPOINT_NAMES = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle'
]
#: COCO's person skeleton (1-based keypoint indices, as in the COCO files)
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                 [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3],
                 [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]

_SPLIT_IDS = {'train': 0, 'val': 1}
_TASK_IDS = {'shapes': 0, 'person': 1}
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_SCALE = 1 << _SHIFT


# --------------------------------------------------------------------------
# drawing helpers
# --------------------------------------------------------------------------
def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Textured noise: a base colour, low-frequency colour blobs, grain and
    a few thin distractor lines. Returns float32 HxWx3 (BGR)."""
    h = w = size
    base = rng.uniform(30, 225, size=3)
    g = int(rng.integers(3, 8))
    low = rng.normal(0, rng.uniform(12, 40), size=(g, g, 3)).astype(np.float32)
    low = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, rng.uniform(3, 16), size=(h, w, 1))
    grain = grain.astype(np.float32)
    img = base[None, None, :].astype(np.float32) + low + grain
    for _ in range(int(rng.integers(0, 4))):
        p1 = rng.uniform(0, size, 2)
        p2 = rng.uniform(0, size, 2)
        color = rng.uniform(0, 255, 3).tolist()
        cv2.line(img, _pt(p1), _pt(p2), color, int(rng.integers(1, 3)),
                 cv2.LINE_AA, _SHIFT)
    return img


def _pt(p) -> Tuple[int, int]:
    return int(round(float(p[0]) * _SCALE)), int(round(float(p[1]) * _SCALE))


def _contrast_color(rng: np.random.Generator, ref: np.ndarray,
                    min_dist: float = 90.) -> np.ndarray:
    """A random colour at least ``min_dist`` (L2 in RGB) away from ``ref``."""
    best, best_d = None, -1.
    for _ in range(30):
        c = rng.uniform(0, 255, size=3)
        d = float(np.linalg.norm(c - ref))
        if d >= min_dist:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


def _shape_polygon(rng: np.random.Generator, cls: int, cx: float, cy: float,
                   s: float) -> np.ndarray:
    """Polygon (N, 2) of a shape of extent about ``s`` centred at cx, cy."""
    if cls == 0:  # circle (slightly elliptic at most), 36 vertices
        t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
        ry = s / 2 * rng.uniform(0.85, 1.0)
        pts = np.stack([s / 2 * np.cos(t), ry * np.sin(t)], 1)
        a = rng.uniform(0, np.pi)
    elif cls == 1:  # square, rotated
        h = s * 0.36
        pts = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
        a = rng.uniform(0, np.pi / 2)
    else:  # triangle (roughly equilateral), rotated
        t = np.array([0., 2 * np.pi / 3, 4 * np.pi / 3])
        t = t + rng.uniform(-0.15, 0.15, 3)
        pts = np.stack([np.cos(t), np.sin(t)], 1) * s / 2
        a = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + np.array([cx, cy])


def _fill(img: np.ndarray, poly: np.ndarray, color: np.ndarray,
          rng: np.random.Generator, outline: int = 0) -> None:
    """Alpha-blend an anti-aliased, slightly textured polygon into img
    (only its outline, ``outline`` pixels thick, when that is > 0)."""
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    pts = [np.round(poly * _SCALE).astype(np.int32)]
    if outline > 0:
        cv2.polylines(alpha, pts, True, 255, outline, cv2.LINE_AA, _SHIFT)
    else:
        cv2.fillPoly(alpha, pts, 255, cv2.LINE_AA, _SHIFT)
    a = alpha.astype(np.float32)[..., None] / 255.
    # shading: a linear gradient plus fine texture inside the shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gdir = rng.normal(size=2)
    grad = (xx * gdir[0] + yy * gdir[1]) / (np.linalg.norm(gdir) * w)
    tex = color[None, None, :] + (grad[..., None] * rng.uniform(10, 50)) + \
        rng.normal(0, rng.uniform(2, 10), size=(h, w, 1))
    img *= (1 - a)
    img += a * tex.astype(np.float32)


def _box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / max(union - inter, 1e-6)


def _poly_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) -
                           np.dot(y, np.roll(x, 1))))


def _to_png(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _draw_shapes_scene(
        rng: np.random.Generator, size: int, min_objects: int,
        max_objects: int) -> Tuple[np.ndarray, np.ndarray, List]:
    """One shapes scene: (BGR uint8 image, uint8 label map, objects).

    objects: list of (class index 0..2, polygon (N, 2) float)."""
    img = _background(rng, size)
    label = np.zeros((size, size), np.uint8)
    n = int(rng.integers(min_objects, max_objects + 1))
    boxes: List[List[float]] = []
    objects = []
    for _ in range(n):
        for _try in range(25):
            cls = int(rng.integers(0, len(SHAPE_CLASSES)))
            s = rng.uniform(0.14, 0.45) * size
            poly = _shape_polygon(rng, cls, 0., 0., s)
            lo, hi = poly.min(0), poly.max(0)
            cx = rng.uniform(1 - lo[0], size - 1 - hi[0])
            cy = rng.uniform(1 - lo[1], size - 1 - hi[1])
            poly = poly + np.array([cx, cy])
            box = [*poly.min(0).tolist(), *poly.max(0).tolist()]
            if all(_box_iou(box, b) < 0.15 for b in boxes):
                break
        else:
            continue  # crowded: skip this object
        ref = img[int(cy), int(cx)]
        color = _contrast_color(rng, ref)
        _fill(img, poly, color, rng)
        cv2.fillPoly(label, [np.round(poly * _SCALE).astype(np.int32)],
                     cls + 1, cv2.LINE_8, _SHIFT)
        boxes.append(box)
        objects.append((cls, poly))
    return _to_png(img), label, objects


def _figure_joints(rng: np.random.Generator, height: float) -> Tuple[
        np.ndarray, float]:
    """17 COCO joints (x, y) of a figure ~``height`` tall, neck at (0, 0)
    and y downwards, facing the camera (person's left = +x); head radius."""
    H = height
    hr = H * rng.uniform(0.075, 0.095)
    neck_len = H * rng.uniform(0.02, 0.05)
    head_c = np.array([0., -neck_len - hr])
    yaw = rng.uniform(-0.35, 0.35)  # small head turn
    pitch = rng.uniform(-0.15, 0.15)
    j = np.zeros((17, 2))
    j[0] = head_c + np.array([yaw, 0.25 + pitch]) * hr          # nose
    j[1] = head_c + np.array([0.38 + yaw, -0.15 + pitch]) * hr  # left eye
    j[2] = head_c + np.array([-0.38 + yaw, -0.15 + pitch]) * hr
    j[3] = head_c + np.array([0.95 + 0.3 * yaw, 0.]) * hr        # left ear
    j[4] = head_c + np.array([-0.95 + 0.3 * yaw, 0.]) * hr
    sw = H * rng.uniform(0.10, 0.15)  # half shoulder width
    j[5] = [sw, H * 0.02]
    j[6] = [-sw, H * 0.02]
    torso = H * rng.uniform(0.27, 0.33)
    hw = H * rng.uniform(0.06, 0.10)  # half hip width
    lean = rng.uniform(-0.1, 0.1) * H
    j[11] = [hw + lean, torso]
    j[12] = [-hw + lean, torso]
    ua, fa = H * rng.uniform(0.14, 0.19), H * rng.uniform(0.12, 0.17)
    th, sh = H * rng.uniform(0.21, 0.26), H * rng.uniform(0.19, 0.24)
    for side, (s, e, w_) in ((1, (5, 7, 9)), (-1, (6, 8, 10))):
        a1 = np.deg2rad(rng.uniform(-25, 165))  # outward from straight down
        a2 = a1 + np.deg2rad(rng.uniform(-40, 130))
        j[e] = j[s] + ua * np.array([side * np.sin(a1), np.cos(a1)])
        j[w_] = j[e] + fa * np.array([side * np.sin(a2), np.cos(a2)])
    for side, (hp, k, an) in ((1, (11, 13, 15)), (-1, (12, 14, 16))):
        a1 = np.deg2rad(rng.uniform(-12, 50))
        a2 = a1 + np.deg2rad(rng.uniform(-45, 35))
        j[k] = j[hp] + th * np.array([side * np.sin(a1), np.cos(a1)])
        j[an] = j[k] + sh * np.array([side * np.sin(a2), np.cos(a2)])
    return j, hr


_LIMBS = [(5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14),
          (14, 16), (5, 6), (11, 12), (5, 11), (6, 12)]


def _draw_person_scene(rng: np.random.Generator,
                       size: int) -> Tuple[np.ndarray, List[Dict]]:
    """One stick-figure scene: (BGR uint8 image, persons).

    persons: dicts with 'keypoints' (17, 3) float (x, y, v) in COCO
    convention and 'bbox' [x, y, w, h]."""
    img = _background(rng, size)
    # a little clutter: unannotated shapes
    for _ in range(int(rng.integers(0, 3))):
        s = rng.uniform(0.06, 0.15) * size
        poly = _shape_polygon(rng, int(rng.integers(0, 3)),
                              *rng.uniform(0, size, 2), s)
        _fill(img, poly, rng.uniform(0, 255, 3), rng)
    n = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
    slot = size / n
    persons = []
    for i in range(n):
        for _try in range(20):
            height = rng.uniform(0.5, 0.9) * size * (1.0 if n < 3 else 0.8)
            joints, hr = _figure_joints(rng, height)
            tilt = np.deg2rad(rng.uniform(-20, 20))
            rot = np.array([[np.cos(tilt), -np.sin(tilt)],
                            [np.sin(tilt), np.cos(tilt)]])
            joints = joints @ rot.T
            head_c = (joints[1] + joints[2]) / 2 + \
                (rot @ np.array([0., 0.15])) * hr
            pts = np.concatenate([joints, head_c[None] + [[-hr, -hr],
                                                        [hr, hr]]])
            lo, hi = pts.min(0), pts.max(0)
            cx = (i + 0.5) * slot + rng.uniform(-0.2, 0.2) * slot
            # mostly inside; sometimes pushed partly out of the image
            if rng.uniform() < 0.25:
                ty = rng.uniform(-lo[1] - 0.35 * (hi[1] - lo[1]),
                                 size - hi[1] + 0.35 * (hi[1] - lo[1]))
                cx += rng.uniform(-0.3, 0.3) * (hi[0] - lo[0])
            else:
                ty = rng.uniform(-lo[1] + 1, max(-lo[1] + 1, size - 1 - hi[1]))
            off = np.array([cx, ty])
            joints, head_c = joints + off, head_c + off
            lo, hi = lo + off, hi + off
            inside = (joints[:, 0] >= 0) & (joints[:, 0] <= size - 1) & \
                (joints[:, 1] >= 0) & (joints[:, 1] <= size - 1)
            if inside.sum() >= 6:
                break
        else:
            continue
        thick = max(2, int(round(height * 0.03)))
        limb_c = _contrast_color(rng, img[int(np.clip(joints[5, 1], 0,
                                                      size - 1)),
                                          int(np.clip(joints[5, 0], 0,
                                                      size - 1))])
        joint_c = rng.uniform(0, 255, 3)
        leg_c = np.clip(limb_c + rng.uniform(-60, 60, 3), 0, 255)
        for a, b in _LIMBS:
            c = leg_c if a >= 11 and b >= 11 and (a, b) != (11, 12) else limb_c
            cv2.line(img, _pt(joints[a]), _pt(joints[b]), c.tolist(), thick,
                     cv2.LINE_AA, _SHIFT)
        neck = (joints[5] + joints[6]) / 2
        cv2.line(img, _pt(neck), _pt(head_c), limb_c.tolist(), thick,
                 cv2.LINE_AA, _SHIFT)
        for k in range(5, 17):
            cv2.circle(img, _pt(joints[k]), int(thick * 0.9 * _SCALE),
                       joint_c.tolist(), -1, cv2.LINE_AA, _SHIFT)
        face_c = _contrast_color(rng, limb_c, 60)
        cv2.circle(img, _pt(head_c), int(hr * _SCALE), face_c.tolist(), -1,
                   cv2.LINE_AA, _SHIFT)
        feat_r = max(1., hr * 0.16)
        eye_c = (face_c * 0.25).tolist()
        for k in (1, 2):
            cv2.circle(img, _pt(joints[k]), int(feat_r * _SCALE), eye_c, -1,
                       cv2.LINE_AA, _SHIFT)
        cv2.circle(img, _pt(joints[0]), int(feat_r * 0.9 * _SCALE),
                   (40., 40., 200.), -1, cv2.LINE_AA, _SHIFT)
        for k in (3, 4):
            cv2.circle(img, _pt(joints[k]), int(feat_r * 1.3 * _SCALE),
                       limb_c.tolist(), -1, cv2.LINE_AA, _SHIFT)
        vis = np.where(inside, 2., 0.)
        # an occluding patch over part of the figure -> visibility 1
        if rng.uniform() < 0.4:
            ow, oh = rng.uniform(0.2, 0.45, 2) * height
            k = int(rng.integers(0, 17))
            ox0 = joints[k, 0] - rng.uniform(0.2, 0.8) * ow
            oy0 = joints[k, 1] - rng.uniform(0.2, 0.8) * oh
            patch = _background(rng, size)
            x0, y0 = int(max(0, np.floor(ox0))), int(max(0, np.floor(oy0)))
            x1 = int(min(size, np.ceil(ox0 + ow)))
            y1 = int(min(size, np.ceil(oy0 + oh)))
            if x1 > x0 and y1 > y0:
                img[y0:y1, x0:x1] = patch[y0:y1, x0:x1]
                hidden = (joints[:, 0] >= x0 - 0.5) & \
                    (joints[:, 0] <= x1 - 0.5) & (joints[:, 1] >= y0 - 0.5) & \
                    (joints[:, 1] <= y1 - 0.5)
                vis[hidden & inside] = 1.
        pad = thick
        bx0, by0 = np.clip(lo - pad, 0, size)
        bx1, by1 = np.clip(hi + pad, 0, size)
        kpts = np.concatenate([joints, vis[:, None]], 1)
        kpts[vis == 0] = 0.
        persons.append(
            dict(keypoints=kpts, bbox=[bx0, by0, bx1 - bx0, by1 - by0]))
    return _to_png(img), persons


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------
def _r(x: float) -> float:
    return round(float(x), 2)


def _coco_header(categories: List[Dict]) -> Dict:
    return dict(
        info=dict(description='mmkd mini data (procedurally generated)',
                  version=str(DATA_VERSION)),
        licenses=[],
        images=[],
        annotations=[],
        categories=categories)


def _dump_json(obj: Dict, path: str) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
    os.replace(tmp, path)


def _clean_pngs(folder: str, prefixes: Sequence[str]) -> None:
    if not osp.isdir(folder):
        return
    for name in os.listdir(folder):
        if name.endswith('.png') and name.startswith(tuple(prefixes)):
            os.remove(osp.join(folder, name))


def _read_meta(root: str) -> Optional[Dict]:
    try:
        with open(osp.join(root, META_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _all_present(root: str, meta: Dict) -> bool:
    for path in meta.get('files', []):
        if not osp.exists(osp.join(root, path)):
            return False
    for rel, count in meta.get('png_counts', {}).items():
        folder = osp.join(root, rel)
        if not osp.isdir(folder) or sum(
                1 for n in os.listdir(folder) if n.endswith('.png')) != count:
            return False
    return True


def generate_mini_data(root: str,
                       seed: int = 0,
                       num_train: int = 320,
                       num_val: int = 64,
                       img_size: int = 128,
                       num_pose_train: Optional[int] = None,
                       num_pose_val: Optional[int] = None,
                       min_objects: int = 2,
                       max_objects: int = 6,
                       overwrite: bool = False) -> Dict:
    """Draw (or find) the mini data set under ``root``.

    Args:
        root (str): output folder (created if missing).
        seed (int): random seed; the same parameters give byte-identical
            files.
        num_train (int): number of shape scenes for training (detection and
            segmentation share them).
        num_val (int): number of shape scenes for validation.
        img_size (int): side of the square images in pixels.
        num_pose_train (int, optional): stick-figure images for training;
            defaults to ``num_train``.
        num_pose_val (int, optional): stick-figure images for validation;
            defaults to ``num_val``.
        min_objects (int): fewest shapes per scene (some may be dropped when
            the scene is crowded).
        max_objects (int): most shapes per scene.
        overwrite (bool): redraw even when ``root`` already holds data made
            with the same parameters.

    Returns:
        dict: ``root``, ``params``, ``skipped`` (True when existing data were
        kept), ``counts`` (images/annotations per task and split) and the
        paths ``det_ann``, ``pose_ann`` (split -> file relative to root),
        ``img_dir``, ``seg_img_dir``, ``seg_label_dir`` (split -> folder
        relative to root) and ``classes``.
    """
    if img_size < 32:
        raise ValueError(f'img_size must be >= 32, got {img_size}')
    if not 1 <= min_objects <= max_objects:
        raise ValueError('need 1 <= min_objects <= max_objects')
    num_pose_train = num_train if num_pose_train is None else num_pose_train
    num_pose_val = num_val if num_pose_val is None else num_pose_val
    params = dict(version=DATA_VERSION, seed=int(seed),
                  num_train=int(num_train), num_val=int(num_val),
                  img_size=int(img_size), num_pose_train=int(num_pose_train),
                  num_pose_val=int(num_pose_val),
                  min_objects=int(min_objects), max_objects=int(max_objects))
    splits = {'train': (num_train, num_pose_train),
              'val': (num_val, num_pose_val)}
    root = osp.abspath(root)
    layout = dict(
        det_ann={s: f'annotations/instances_{s}.json' for s in splits},
        pose_ann={s: f'annotations/person_keypoints_{s}.json' for s in splits},
        img_dir={s: f'images/{s}' for s in splits},
        seg_img_dir={s: f'seg/images/{s}' for s in splits},
        seg_label_dir={s: f'seg/labels/{s}' for s in splits},
        classes=list(SHAPE_CLASSES))

    meta = _read_meta(root)
    if (not overwrite and meta is not None and meta.get('params') == params
            and _all_present(root, meta)):
        return dict(root=root, params=params, skipped=True,
                    counts=meta['counts'], **layout)

    # (re)generate: drop the meta first so an interrupted run is redone
    if meta is not None:
        os.remove(osp.join(root, META_FILE))
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for s in splits:
        for key, prefixes in (('img_dir', ('shapes_', 'person_')),
                              ('seg_img_dir', ('shapes_', )),
                              ('seg_label_dir', ('shapes_', ))):
            folder = osp.join(root, layout[key][s])
            os.makedirs(folder, exist_ok=True)
            _clean_pngs(folder, prefixes)

    det_cats = [dict(id=i + 1, name=n, supercategory='shape')
                for i, n in enumerate(SHAPE_CLASSES)]
    pose_cats = [dict(id=1, name='person', supercategory='person',
                      keypoints=list(COCO_KEYPOINT_NAMES),
                      skeleton=[list(p) for p in COCO_SKELETON])]
    counts: Dict = {}
    files: List[str] = []
    png_counts: Dict[str, int] = {}
    for split, (n_det, n_pose) in splits.items():
        sid = _SPLIT_IDS[split]
        img_dir = osp.join(root, layout['img_dir'][split])
        seg_img_dir = osp.join(root, layout['seg_img_dir'][split])
        seg_lbl_dir = osp.join(root, layout['seg_label_dir'][split])

        det = _coco_header(det_cats)
        ann_id = 1
        for idx in range(n_det):
            rng = np.random.default_rng([seed, sid, _TASK_IDS['shapes'], idx])
            img, label, objects = _draw_shapes_scene(rng, img_size,
                                                     min_objects, max_objects)
            name = f'shapes_{idx:06d}.png'
            cv2.imwrite(osp.join(img_dir, name), img)
            cv2.imwrite(osp.join(seg_img_dir, name), img)
            cv2.imwrite(osp.join(seg_lbl_dir, name), label)
            image_id = idx + 1
            det['images'].append(
                dict(id=image_id, file_name=name, width=img_size,
                     height=img_size))
            for cls, poly in objects:
                x0, y0 = poly.min(0)
                x1, y1 = poly.max(0)
                det['annotations'].append(
                    dict(id=ann_id, image_id=image_id, category_id=cls + 1,
                         bbox=[_r(x0), _r(y0), _r(x1 - x0), _r(y1 - y0)],
                         area=_r(_poly_area(poly)),
                         segmentation=[[_r(v) for v in poly.reshape(-1)]],
                         iscrowd=0))
                ann_id += 1

        pose = _coco_header(pose_cats)
        kp_id = 1
        for idx in range(n_pose):
            rng = np.random.default_rng([seed, sid, _TASK_IDS['person'], idx])
            img, persons = _draw_person_scene(rng, img_size)
            name = f'person_{idx:06d}.png'
            cv2.imwrite(osp.join(img_dir, name), img)
            image_id = idx + 1
            pose['images'].append(
                dict(id=image_id, file_name=name, width=img_size,
                     height=img_size))
            for p in persons:
                k = p['keypoints']
                x, y, w, h = p['bbox']
                pose['annotations'].append(
                    dict(id=kp_id, image_id=image_id, category_id=1,
                         bbox=[_r(x), _r(y), _r(w), _r(h)],
                         area=_r(0.53 * w * h),
                         keypoints=[_r(v) if i % 3 < 2 else int(v)
                                    for i, v in enumerate(k.reshape(-1))],
                         num_keypoints=int((k[:, 2] > 0).sum()),
                         iscrowd=0))
                kp_id += 1

        _dump_json(det, osp.join(root, layout['det_ann'][split]))
        _dump_json(pose, osp.join(root, layout['pose_ann'][split]))
        files += [layout['det_ann'][split], layout['pose_ann'][split]]
        png_counts[layout['img_dir'][split]] = n_det + n_pose
        png_counts[layout['seg_img_dir'][split]] = n_det
        png_counts[layout['seg_label_dir'][split]] = n_det
        counts[split] = dict(
            det_images=n_det, det_instances=len(det['annotations']),
            pose_images=n_pose, pose_instances=len(pose['annotations']),
            seg_images=n_det)

    meta = dict(params=params, counts=counts, files=files,
                png_counts=png_counts)
    _dump_json(meta, osp.join(root, META_FILE))
    return dict(root=root, params=params, skipped=False, counts=counts,
                **layout)

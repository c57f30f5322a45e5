"""A small generated image classification set in mmpretrain's format.

One shape per image on a textured background (the detection set's
drawing), eight classes in four pairs that differ only in being filled or
hollow, so the classes have the graded similarities that logit
distillation passes on::

    circle, ring, square, square_frame, triangle, triangle_frame,
    star, star_frame

Layout written under ``root``::

    root/
      mini_cls_meta.json               parameters + counts (idempotency)
      train/<class>/<class>_000000.png  images, a folder per class
      val/<class>/...
      meta/train.txt, meta/val.txt      ``<split>/<class>/<file> <label>``

``mmpretrain.datasets.CustomDataset`` reads it either way: with
``ann_file='meta/train.txt'`` and ``metainfo=dict(classes=CLS_CLASSES)``
(the order above), or from the folders alone (classes then sorted by name).
Image ``i`` of a split shows class ``i % 8``; each image is drawn from its
own generator seeded with ``(seed, split, 2, i)``, so a bigger set starts
with the images of a smaller one.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional

import cv2
import numpy as np

from .mini_data import (_SPLIT_IDS, _background, _clean_pngs, _contrast_color,
                        _dump_json, _fill, _shape_polygon,
                        _to_png)

__all__ = ['generate_mini_cls', 'CLS_CLASSES']

CLS_CLASSES = ('circle', 'ring', 'square', 'square_frame', 'triangle',
               'triangle_frame', 'star', 'star_frame')
CLS_META_FILE = 'mini_cls_meta.json'
CLS_DATA_VERSION = 1
_TASK_ID = 2  # after the detection (0) and pose (1) images


def _star(rng: np.random.Generator, s: float) -> np.ndarray:
    """A five-pointed star of extent about ``s`` centred at 0, rotated."""
    t = np.linspace(0, 2 * np.pi, 10, endpoint=False) + rng.uniform(0, 2)
    r = np.where(np.arange(10) % 2 == 0, s / 2, s / 2 * rng.uniform(.4, .5))
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _draw_cls_image(rng: np.random.Generator, label: int,
                    size: int) -> np.ndarray:
    """One image of class ``label``: BGR uint8 (size, size, 3)."""
    img = _background(rng, size)
    kind, hollow = divmod(label, 2)
    s = rng.uniform(0.5, 0.9) * size
    poly = (_star(rng, s) if kind == 3 else
            _shape_polygon(rng, kind, 0., 0., s))
    lo, hi = poly.min(0), poly.max(0)
    centre = np.array([rng.uniform(-lo[0], size - hi[0]),
                       rng.uniform(-lo[1], size - hi[1])])
    poly = poly + centre
    ref = img[int(np.clip(centre[1], 0, size - 1)),
              int(np.clip(centre[0], 0, size - 1))]
    outline = max(1, int(round(s * rng.uniform(0.08, 0.14)))) if hollow else 0
    _fill(img, poly, _contrast_color(rng, ref, min_dist=70.), rng, outline)
    return _to_png(img)


def generate_mini_cls(root: str,
                      seed: int = 0,
                      num_train: int = 4000,
                      num_val: int = 800,
                      img_size: int = 32,
                      overwrite: bool = False) -> Dict:
    """Draw (or find) the mini classification set under ``root``.

    Args:
        root (str): output folder (created if missing).
        seed (int): random seed; the same parameters give identical files.
        num_train (int): training images (classes balanced: image ``i`` is
            of class ``i % 8``).
        num_val (int): validation images.
        img_size (int): side of the square images in pixels (>= 16).
        overwrite (bool): redraw even when ``root`` already holds data made
            with the same parameters.

    Returns:
        dict: ``root``, ``params``, ``skipped`` (True when existing data were
        kept), ``counts`` (split -> images), ``ann_file`` (split -> file
        relative to root) and ``classes``.
    """
    if img_size < 16:
        raise ValueError(f'img_size must be >= 16, got {img_size}')
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must be >= 0')
    params = dict(version=CLS_DATA_VERSION, seed=int(seed),
                  num_train=int(num_train), num_val=int(num_val),
                  img_size=int(img_size))
    counts = dict(train=int(num_train), val=int(num_val))
    root = osp.abspath(root)
    layout = dict(ann_file={s: f'meta/{s}.txt' for s in counts},
                  classes=list(CLS_CLASSES))
    meta_path = osp.join(root, CLS_META_FILE)
    meta = _load_json(meta_path)
    if not overwrite and meta is not None and meta.get('params') == params \
            and all(osp.exists(osp.join(root, f))
                    for f in layout['ann_file'].values()):
        return dict(root=root, params=params, skipped=True, counts=counts,
                    **layout)

    if meta is not None:  # drop it first so an interrupted run is redone
        os.remove(meta_path)
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split, n in counts.items():
        lines = []
        for name in CLS_CLASSES:
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            _clean_pngs(folder, (name, ))
        for idx in range(n):
            label = idx % len(CLS_CLASSES)
            rng = np.random.default_rng([seed, _SPLIT_IDS[split], _TASK_ID,
                                         idx])
            rel = f'{split}/{CLS_CLASSES[label]}/' \
                  f'{CLS_CLASSES[label]}_{idx:06d}.png'
            cv2.imwrite(osp.join(root, rel),
                        _draw_cls_image(rng, label, img_size))
            lines.append(f'{rel} {label}\n')
        with open(osp.join(root, layout['ann_file'][split]), 'w') as f:
            f.writelines(lines)
    _dump_json(dict(params=params, counts=counts), meta_path)
    return dict(root=root, params=params, skipped=False, counts=counts,
                **layout)


def _load_json(path: str) -> Optional[Dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

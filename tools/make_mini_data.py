#!/usr/bin/env python
"""Draw mmkd's mini data set (shapes for detection/segmentation, stick
figures for pose) in COCO / mmseg formats, and the small classification set
(mmpretrain's CustomDataset format) in <root>/cls.

    python tools/make_mini_data.py                 # -> data/mini (defaults)
    python tools/make_mini_data.py data/tiny --num-train 16 --num-val 8

The configs under configs/ read ``$MMKD_DATA_ROOT`` (default ``data/mini``).
Running it again with the same parameters keeps the existing files.
"""
import argparse
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmkd.datasets.mini_cls import generate_mini_cls  # noqa: E402
from mmkd.datasets.mini_data import generate_mini_data  # noqa: E402
from mmkd.datasets.mini_kitti import generate_mini_kitti  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument(
        'root', nargs='?',
        default=os.environ.get('MMKD_DATA_ROOT', 'data/mini'),
        help='output folder (default: $MMKD_DATA_ROOT or data/mini)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train', type=int, default=320,
                   help='shape scenes for training (det + seg)')
    p.add_argument('--num-val', type=int, default=64,
                   help='shape scenes for validation (det + seg)')
    p.add_argument('--num-pose-train', type=int, default=None,
                   help='stick-figure images for training '
                   '(default: --num-train)')
    p.add_argument('--num-pose-val', type=int, default=None,
                   help='stick-figure images for validation '
                   '(default: --num-val)')
    p.add_argument('--img-size', type=int, default=128,
                   help='side of the square images in pixels')
    p.add_argument('--min-objects', type=int, default=2)
    p.add_argument('--max-objects', type=int, default=6)
    p.add_argument('--cls-train', type=int, default=4000,
                   help='classification images for training, written to '
                   '<root>/cls (0: none)')
    p.add_argument('--cls-val', type=int, default=800,
                   help='classification images for validation')
    p.add_argument('--kitti-train', type=int, default=0,
                   help='KITTI-format point clouds for training, written '
                   'to <root>/kitti (PointDistiller; 0: none)')
    p.add_argument('--kitti-val', type=int, default=0,
                   help='KITTI-format point clouds for validation')
    p.add_argument('--overwrite', action='store_true',
                   help='redraw even if the same data already exist')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    info = generate_mini_data(
        args.root, seed=args.seed, num_train=args.num_train,
        num_val=args.num_val, img_size=args.img_size,
        num_pose_train=args.num_pose_train, num_pose_val=args.num_pose_val,
        min_objects=args.min_objects, max_objects=args.max_objects,
        overwrite=args.overwrite)
    verb = 'kept existing data in' if info['skipped'] else 'wrote'
    print(f'{verb} {info["root"]} ({time.time() - t0:.1f} s)')
    print(f'  params: {info["params"]}')
    for split, c in info['counts'].items():
        print(f'  [{split}]')
        print(f'    detection : {info["det_ann"][split]}  '
              f'{c["det_images"]} images, {c["det_instances"]} objects '
              f'(classes: {", ".join(info["classes"])})')
        print(f'    keypoints : {info["pose_ann"][split]}  '
              f'{c["pose_images"]} images, {c["pose_instances"]} persons')
        print(f'    images    : {info["img_dir"][split]}/'
              '{shapes,person}_*.png')
        print(f'    semantic  : {info["seg_img_dir"][split]}/*.png + '
              f'{info["seg_label_dir"][split]}/*.png  '
              f'{c["seg_images"]} pairs')
    if args.cls_train or args.cls_val:
        cls = generate_mini_cls(
            osp.join(args.root, 'cls'), seed=args.seed,
            num_train=args.cls_train, num_val=args.cls_val,
            overwrite=args.overwrite)
        print(f'  classes   : {cls["root"]}/meta/{{train,val}}.txt  '
              f'{args.cls_train} + {args.cls_val} images of 32x32 '
              f'({", ".join(cls["classes"])})')
    if args.kitti_train or args.kitti_val:
        kitti = generate_mini_kitti(
            osp.join(args.root, 'kitti'), seed=args.seed,
            num_train=args.kitti_train, num_val=args.kitti_val)
        print(f'  kitti     : {kitti}  {args.kitti_train} + '
              f'{args.kitti_val} point clouds (KITTI format)')
    return info


if __name__ == '__main__':
    main()

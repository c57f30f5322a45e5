from .mini_cls import CLS_CLASSES, generate_mini_cls
from .mini_data import (COCO_KEYPOINT_NAMES, COCO_SKELETON, SHAPE_CLASSES,
                        SHAPE_PALETTE, generate_mini_data)
from .mini_kitti import KITTI_CLASSES, generate_mini_kitti

__all__ = [
    'generate_mini_data', 'SHAPE_CLASSES', 'SHAPE_PALETTE',
    'COCO_KEYPOINT_NAMES', 'COCO_SKELETON', 'generate_mini_kitti',
    'KITTI_CLASSES', 'generate_mini_cls', 'CLS_CLASSES'
]

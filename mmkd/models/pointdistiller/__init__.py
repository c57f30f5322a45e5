"""PointDistiller (CVPR 2023): local kNN-graph distillation for point-cloud
detectors (mmdet3d voxel, pillar and point features) and dense 2D maps.

The loss needs only torch and mmcv; what needs mmdet3d is imported where it
is used."""
from .graph import (edge_features, gather_items, knn_indices, local_graph,
                    select_top, to_items)
from .loss import PointDistillerLoss

__all__ = [
    'PointDistillerLoss', 'to_items', 'select_top', 'gather_items',
    'knn_indices', 'edge_features', 'local_graph'
]

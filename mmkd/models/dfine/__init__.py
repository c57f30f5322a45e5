"""D-FINE (arXiv 2410.13842) for mmdet's DETR detectors: Fine-grained
Distribution Refinement (FDR) and Global Optimal Localization
Self-Distillation (GO-LSD)."""
from .ddf_loss import DDFLoss
from .detectors import DFineDeformableDETR, DFineDINO
from .fdr_decoder import (FDRDeformableDetrTransformerDecoder,
                          FDRDinoTransformerDecoder)
from .fdr_head import DFineDeformableDETRHead, DFineDINOHead, FDRHeadMixin
from .fdr_utils import (bbox2distance, distance2bbox, distribution_integral,
                        segment_sum, two_bin_targets, weighting_function)
from .fgl_loss import FGLLoss
from .lqe import LQE
from .per_layer_loss import (DFineDeformableDETRHeadPerLayer,
                             DFineDINOHeadPerLayer, PerLayerLossMixin)
from .union_matching import (union_set_matching, union_set_matching_batch,
                             union_set_matching_flat)

__all__ = [
    'DFineDINO', 'DFineDeformableDETR', 'DFineDINOHead',
    'DFineDeformableDETRHead', 'FDRHeadMixin', 'LQE',
    'FDRDinoTransformerDecoder',
    'FDRDeformableDetrTransformerDecoder', 'FGLLoss', 'DDFLoss',
    'weighting_function', 'distribution_integral', 'distance2bbox',
    'bbox2distance', 'two_bin_targets', 'segment_sum', 'union_set_matching',
    'union_set_matching_batch', 'union_set_matching_flat',
    'PerLayerLossMixin', 'DFineDINOHeadPerLayer',
    'DFineDeformableDETRHeadPerLayer'
]

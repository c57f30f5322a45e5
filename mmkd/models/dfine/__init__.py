"""D-FINE (arXiv 2410.13842) for mmdet's DETR detectors: Fine-grained
Distribution Refinement (FDR) and Global Optimal Localization
Self-Distillation (GO-LSD)."""
from .ddf_loss import DDFLoss
from .detectors import DFineDeformableDETR, DFineDINO
from .fdr_decoder import (FDRDeformableDetrTransformerDecoder,
                          FDRDinoTransformerDecoder)
from .fdr_head import DFineDeformableDETRHead, DFineDINOHead, FDRHeadMixin
from .fdr_utils import (bbox2distance, distance2bbox, distribution_integral,
                        two_bin_targets, weighting_function)
from .fgl_loss import FGLLoss
from .union_matching import union_set_matching, union_set_matching_batch

__all__ = [
    'DFineDINO', 'DFineDeformableDETR', 'DFineDINOHead',
    'DFineDeformableDETRHead', 'FDRHeadMixin', 'FDRDinoTransformerDecoder',
    'FDRDeformableDetrTransformerDecoder', 'FGLLoss', 'DDFLoss',
    'weighting_function', 'distribution_integral', 'distance2bbox',
    'bbox2distance', 'two_bin_targets', 'union_set_matching',
    'union_set_matching_batch'
]

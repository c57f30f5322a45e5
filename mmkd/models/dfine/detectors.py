"""mmdet's DINO and Deformable DETR with D-FINE's FDR decoder.

Only the decoder's box refinement loop and the head change; encoder,
backbone, neck, query selection, denoising and post-processing are mmdet's,
so the configs of mmdet's models switch with a type change::

    _base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
    custom_imports = dict(imports=['mmkd.models.dfine'],
                          allow_failed_imports=False)
    model = dict(type='mmkd.DFineDINO',
                 bbox_head=dict(type='mmkd.DFineDINOHead'))
"""
from typing import Dict, Optional

from mmdet.models.detectors import DINO, DeformableDETR
from torch import Tensor

from mmkd.registry import MODELS
from .fdr_decoder import (FDRDeformableDetrTransformerDecoder,
                          FDRDinoTransformerDecoder)

__all__ = ['DFineDINO', 'DFineDeformableDETR']


@MODELS.register_module()
class DFineDINO(DINO):
    """DINO whose decoder refines boxes by FDR (use with
    :class:`~mmkd.models.dfine.DFineDINOHead`). Arguments are DINO's; the
    FDR settings (N, a, c) and the FGL / DDF losses are the head's."""

    # GO-LSD's terms of the loss dict (d0.loss_ddf, d0.dn_loss_ddf ...) and
    # the module holding their weight: what the KD doctor diagnoses
    self_distill_losses = {'loss_ddf': 'bbox_head.loss_ddf'}

    def _init_layers(self) -> None:
        decoder_cfg = self.decoder
        super()._init_layers()
        self.decoder = FDRDinoTransformerDecoder(**decoder_cfg)

    def forward_decoder(self,
                        query: Tensor,
                        memory: Tensor,
                        memory_mask: Tensor,
                        reference_points: Tensor,
                        spatial_shapes: Tensor,
                        level_start_index: Tensor,
                        valid_ratios: Tensor,
                        dn_mask: Optional[Tensor] = None,
                        **kwargs) -> Dict:
        """As :meth:`DINO.forward_decoder`; the returned dict also holds
        ``pred_corners``, ``init_boxes`` and ``pre_boxes`` for the head."""
        inter_states, references, fdr_outputs = self.decoder(
            query=query,
            value=memory,
            key_padding_mask=memory_mask,
            self_attn_mask=dn_mask,
            reference_points=reference_points,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
            fdr_head=self.bbox_head,
            **kwargs)
        if len(query) == self.num_queries:
            # keep the denoising embedding in the graph without GT (DDP)
            inter_states[0] += \
                self.dn_query_generator.label_embedding.weight[0, 0] * 0.0
        return dict(
            hidden_states=inter_states, references=references, **fdr_outputs)


@MODELS.register_module()
class DFineDeformableDETR(DeformableDETR):
    """Deformable DETR whose decoder refines boxes by FDR (use with
    :class:`~mmkd.models.dfine.DFineDeformableDETRHead`). Requires
    ``with_box_refine=True`` (FDR is a per-layer refinement)."""

    # GO-LSD's terms of the loss dict (d0.loss_ddf, d0.dn_loss_ddf ...) and
    # the module holding their weight: what the KD doctor diagnoses
    self_distill_losses = {'loss_ddf': 'bbox_head.loss_ddf'}

    def __init__(self, *args, with_box_refine: bool = True, **kwargs) -> None:
        if not with_box_refine:
            raise ValueError('DFineDeformableDETR needs with_box_refine=True')
        super().__init__(*args, with_box_refine=with_box_refine, **kwargs)

    def _init_layers(self) -> None:
        decoder_cfg = self.decoder
        super()._init_layers()
        self.decoder = FDRDeformableDetrTransformerDecoder(**decoder_cfg)

    def forward_decoder(self, query: Tensor, query_pos: Tensor, memory: Tensor,
                        memory_mask: Tensor, reference_points: Tensor,
                        spatial_shapes: Tensor, level_start_index: Tensor,
                        valid_ratios: Tensor) -> Dict:
        """As :meth:`DeformableDETR.forward_decoder` with the FDR outputs."""
        inter_states, references, fdr_outputs = self.decoder(
            query=query,
            value=memory,
            query_pos=query_pos,
            key_padding_mask=memory_mask,
            reference_points=reference_points,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
            fdr_head=self.bbox_head)
        return dict(
            hidden_states=inter_states, references=references, **fdr_outputs)

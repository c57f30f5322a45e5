"""FDR decoders: mmdet's DINO and Deformable DETR decoders whose box
refinement is D-FINE's Fine-grained Distribution Refinement.

The transformer layers, their parameters and their names are mmdet's (a
plain DINO checkpoint's decoder weights load unchanged); only the loop
differs. Per layer :math:`l`:

1. the layer runs with the reference boxes of layer :math:`l-1`;
2. after layer 0 only, the head's ``pre_branch`` predicts the initial box
   :math:`b^0` (mmdet's usual sigmoid-delta refinement of the input
   reference); it is detached and shared by all layers;
3. the layer's FDR branch adds residual edge logits to layer
   :math:`l-1`'s, :math:`\\Pr^l = \\Pr^{l-1} + \\Delta^l`, whose expectation on
   :math:`W(n)` refines :math:`b^0` into the layer's box
   (:func:`~mmkd.models.dfine.fdr_utils.distance2bbox`); the branch sees the
   layer's output plus layer :math:`l-1`'s output detached (layer 0: its own
   output only), as the official ``bbox_head[i](output + output_detach)``;
4. that box, detached, is the next layer's reference.

The head object passed as ``fdr_head`` provides ``predict_pre_boxes`` and
``refine`` (see :class:`~mmkd.models.dfine.fdr_head.FDRHeadMixin`).
"""
from typing import Dict, List, Tuple

import torch
from mmdet.models.layers.transformer import (DeformableDetrTransformerDecoder,
                                             DinoTransformerDecoder)
from mmdet.models.layers.transformer.utils import coordinate_to_encoding
from torch import Tensor, nn

__all__ = ['FDRDinoTransformerDecoder', 'FDRDeformableDetrTransformerDecoder']


def _scaled_reference(reference: Tensor, valid_ratios: Tensor) -> Tensor:
    if reference.shape[-1] == 4:
        return reference[:, :, None] * torch.cat([valid_ratios, valid_ratios],
                                                 -1)[:, None]
    assert reference.shape[-1] == 2
    return reference[:, :, None] * valid_ratios[:, None]


class _FDRLoopMixin:
    """The FDR bookkeeping shared by both decoders."""

    @staticmethod
    def _fdr_step(fdr_head: nn.Module, layer_id: int, hidden: Tensor,
                  reference: Tensor, state: Dict) -> Tensor:
        if layer_id == 0:
            pre_boxes = fdr_head.predict_pre_boxes(hidden, reference)
            state['pre_boxes'] = pre_boxes
            state['init_boxes'] = pre_boxes.detach().float()
        corners, boxes = fdr_head.refine(
            layer_id,
            hidden,
            state.get('corners'),
            state['init_boxes'],
            prev_hidden=state.get('hidden'))
        state['corners'] = corners
        state['hidden'] = hidden.detach()
        state.setdefault('all_corners', []).append(corners)
        return boxes

    @staticmethod
    def _fdr_outputs(state: Dict) -> Dict:
        return dict(
            pred_corners=torch.stack(state['all_corners']),
            init_boxes=state['init_boxes'],
            pre_boxes=state['pre_boxes'])


class FDRDinoTransformerDecoder(_FDRLoopMixin, DinoTransformerDecoder):
    """:class:`mmdet.models.layers.DinoTransformerDecoder` with FDR box
    refinement (same parameters, same constructor arguments)."""

    def forward(self, query: Tensor, value: Tensor, key_padding_mask: Tensor,
                self_attn_mask: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor, level_start_index: Tensor,
                valid_ratios: Tensor, fdr_head: nn.Module,
                **kwargs) -> Tuple[Tensor, List[Tensor], Dict]:
        """Run the decoder.

        Args:
            query, value, key_padding_mask, self_attn_mask, reference_points,
            spatial_shapes, level_start_index, valid_ratios: as in
                :meth:`DinoTransformerDecoder.forward`; ``reference_points``
                are (cx, cy, w, h) in [0, 1].
            fdr_head (nn.Module): the FDR head.

        Returns:
            tuple: ``hidden_states`` (num_layers, bs, nq, dim) (normalised, as
            mmdet's), ``references`` (list of num_layers + 1 tensors: the input
            reference then each layer's FDR box, not detached) and a dict with
            ``pred_corners`` (num_layers, bs, nq, 4 * (N + 1)),
            ``init_boxes`` (b0, detached) and ``pre_boxes`` (b0 with grad).
        """
        hidden_states, references, state = [], [reference_points], {}
        reference = reference_points
        for lid, layer in enumerate(self.layers):
            ref_input = _scaled_reference(reference, valid_ratios)
            query_sine_embed = coordinate_to_encoding(
                ref_input[:, :, 0, :], num_feats=self.embed_dims // 2)
            query_pos = self.ref_point_head(query_sine_embed)
            query = layer(
                query,
                query_pos=query_pos,
                value=value,
                key_padding_mask=key_padding_mask,
                self_attn_mask=self_attn_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=ref_input,
                **kwargs)
            hidden = self.norm(query)
            boxes = self._fdr_step(fdr_head, lid, hidden, reference, state)
            hidden_states.append(hidden)
            references.append(boxes)
            reference = boxes.detach()
        return torch.stack(hidden_states), references, self._fdr_outputs(state)


class FDRDeformableDetrTransformerDecoder(_FDRLoopMixin,
                                         DeformableDetrTransformerDecoder):
    """:class:`mmdet.models.layers.DeformableDetrTransformerDecoder` with FDR
    box refinement. The input references may be points (single-stage
    Deformable DETR) or boxes (two-stage); from layer 1 on they are the FDR
    boxes."""

    def forward(self, query: Tensor, query_pos: Tensor, value: Tensor,
                key_padding_mask: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor, level_start_index: Tensor,
                valid_ratios: Tensor, fdr_head: nn.Module,
                **kwargs) -> Tuple[Tensor, List[Tensor], Dict]:
        """Run the decoder; arguments and outputs as in
        :meth:`FDRDinoTransformerDecoder.forward` (plus the learnt
        ``query_pos``, and no self-attention mask)."""
        output = query
        hidden_states, references, state = [], [reference_points], {}
        reference = reference_points
        for lid, layer in enumerate(self.layers):
            ref_input = _scaled_reference(reference, valid_ratios)
            output = layer(
                output,
                query_pos=query_pos,
                value=value,
                key_padding_mask=key_padding_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=ref_input,
                **kwargs)
            boxes = self._fdr_step(fdr_head, lid, output, reference, state)
            hidden_states.append(output)
            references.append(boxes)
            reference = boxes.detach()
        return torch.stack(hidden_states), references, self._fdr_outputs(state)

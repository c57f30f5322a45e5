"""Per-layer reference of the D-FINE heads' layer-batched losses.

:class:`~mmkd.models.dfine.layer_losses.LayerLossMixin` computes the
FDR / GO-LSD losses of all decoder layers (and of :math:`b^0`) at once. The
heads here compute the same losses, keys and gradients with one loop
iteration per layer (the loss code before it was batched). They are kept
as the reference of the equality test in ``tests/test_dfine.py`` and of
``benchmarks/dfine_overhead.py --per-layer``, not for training.
"""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmdet.utils import InstanceList
from torch import Tensor

from mmkd.registry import MODELS
from .fdr_head import DFineDeformableDETRHead, DFineDINOHead
from .fdr_utils import bbox2distance
from .union_matching import union_set_matching_batch

__all__ = [
    'PerLayerLossMixin', 'DFineDINOHeadPerLayer',
    'DFineDeformableDETRHeadPerLayer'
]


class PerLayerLossMixin:
    """Replaces the layer-batched matching losses of a D-FINE head with the
    per-layer loop; mix in before the head class."""

    def _matched_ious(self, bbox_preds: Tensor,
                      m: Dict[str, Tensor]) -> Tensor:
        """IoU of the matched predictions with their targets (detached)."""
        pred = bbox_preds[m['b'], m['q']].detach().float()
        return bbox_overlaps(
            bbox_cxcywh_to_xyxy(pred), m['xyxy'], is_aligned=True)

    def _loss_fgl_matched(self, corners: Tensor, bbox_preds: Tensor,
                          init_boxes: Tensor, m: Dict[str, Tensor],
                          avg: float) -> Tensor:
        """FGL loss of one layer on the matched pairs, IoU-weighted."""
        if m['b'].numel() == 0:
            return corners.sum() * 0.0
        target = bbox2distance(init_boxes[m['b'], m['q']], m['xyxy'],
                               self.reg_scale)
        return self.loss_fgl(
            corners[m['b'], m['q']],
            target,
            self.project,
            weight=self._matched_ious(bbox_preds, m),
            avg_factor=avg)

    def _loss_ddf_matched(
            self,
            corners: Tensor,
            teacher_corners: Tensor,
            teacher_logits: Tensor,
            bbox_preds: Tensor,
            m: Dict[str, Tensor],
            count_weights: Optional[Tuple[float, float]] = None) -> Tensor:
        """DDF loss of one layer against the last: IoU weights for the
        matched queries, the teacher's confidence for the others."""
        bs, nq = corners.shape[:2]
        weight = teacher_logits.detach().float().sigmoid().max(-1)[0]
        matched = torch.zeros(bs, nq, dtype=torch.bool, device=corners.device)
        if m['b'].numel():
            matched[m['b'], m['q']] = True
            weight[m['b'], m['q']] = self._matched_ious(bbox_preds, m)
        return self.loss_ddf(
            corners.reshape(bs * nq, 4, -1),
            teacher_corners.reshape(bs * nq, 4, -1),
            weight.reshape(-1),
            matched.reshape(-1),
            count_weights=count_weights)

    def _fdr_matching_losses(
        self,
        all_cls: Tensor,
        all_boxes: Tensor,
        all_corners: Tensor,
        init_boxes: Tensor,
        pre_boxes: Tensor,
        pre_cls: Tensor,
        enc_cls: Optional[Tensor],
        enc_boxes: Optional[Tensor],
        enc_gt_instances: Optional[InstanceList],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
    ) -> Tuple[Dict[str, Tensor], Optional[Tuple[float, float]]]:
        """The losses of one decoder layer at a time, as
        :meth:`~.layer_losses.LayerLossMixin._fdr_matching_losses`'s.

        Returns:
            tuple: the loss dict and the DDF count weights
            :math:`(\\sqrt{K_m}, \\sqrt{K_u})` (reused for the denoising
            queries, as D-FINE does).
        """
        num_layers = all_cls.shape[0]
        device = all_boxes.device
        layer_matches = [
            self._hungarian(all_cls[i], all_boxes[i], batch_gt_instances,
                            batch_img_metas) for i in range(num_layers)
        ]
        pre_matches = self._hungarian(pre_cls, pre_boxes, batch_gt_instances,
                                      batch_img_metas)
        enc_matches = None
        if enc_cls is not None:
            enc_matches = self._hungarian(enc_cls, enc_boxes,
                                          enc_gt_instances, batch_img_metas)
        union = None
        if self.union_matching:
            # the order of the pool does not matter (ties -> lower gt index)
            pool = [layer_matches[-1]] + layer_matches[:-1] + [pre_matches]
            if enc_matches is not None and self._enc_in_union:
                pool.append(enc_matches)
            union = self._gather(
                union_set_matching_batch(pool), batch_gt_instances,
                batch_img_metas, device)
            union_avg = self._avg_factor(union['b'].numel(), all_boxes)

        losses = {}
        count_weights = None
        for i in range(num_layers):
            own = self._gather(layer_matches[i], batch_gt_instances,
                               batch_img_metas, device)
            if union is not None:
                box_m, box_avg = union, union_avg
            else:
                box_m = own
                box_avg = self._avg_factor(own['b'].numel(), all_boxes)
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            losses[prefix + 'loss_cls'] = self._loss_cls_matched(
                all_cls[i], all_boxes[i], own)
            lb, li = self._loss_boxes_matched(all_boxes[i], box_m, box_avg)
            losses[prefix + 'loss_bbox'] = lb
            losses[prefix + 'loss_iou'] = li
            if self.loss_fgl is not None:
                losses[prefix + 'loss_fgl'] = self._loss_fgl_matched(
                    all_corners[i], all_boxes[i], init_boxes, box_m, box_avg)
            if self.loss_ddf is not None and i < num_layers - 1:
                matched = torch.zeros(
                    all_cls.shape[1:3], dtype=torch.bool, device=device)
                matched[box_m['b'], box_m['q']] = True
                cw = self.loss_ddf.count_weights(matched)
                if count_weights is None:
                    count_weights = cw
                losses[prefix + 'loss_ddf'] = self._loss_ddf_matched(
                    all_corners[i], all_corners[-1], all_cls[-1],
                    all_boxes[i], box_m, cw)

        # initial boxes b0: classification on its own matches, boxes on
        # the union (official pre_outputs)
        pre_own = self._gather(pre_matches, batch_gt_instances,
                               batch_img_metas, device)
        if union is not None:
            pre_m, pre_avg = union, union_avg
        else:
            pre_m = pre_own
            pre_avg = self._avg_factor(pre_m['b'].numel(), all_boxes)
        losses['pre.loss_cls'] = self._loss_cls_matched(
            pre_cls, pre_boxes, pre_own)
        lb, li = self._loss_boxes_matched(pre_boxes, pre_m, pre_avg)
        losses['pre.loss_bbox'] = lb
        losses['pre.loss_iou'] = li

        # encoder proposals
        if enc_matches is not None:
            own = self._gather(enc_matches, enc_gt_instances, batch_img_metas,
                               device)
            if union is not None and self._enc_in_union:
                enc_m, enc_avg = union, union_avg
            else:
                enc_m = own
                enc_avg = self._avg_factor(own['b'].numel(), all_boxes)
            losses['enc_loss_cls'] = self._loss_cls_matched(
                enc_cls, enc_boxes, own)
            lb, li = self._loss_boxes_matched(enc_boxes, enc_m, enc_avg)
            losses['enc_loss_bbox'] = lb
            losses['enc_loss_iou'] = li
        return losses, count_weights


@MODELS.register_module()
class DFineDINOHeadPerLayer(PerLayerLossMixin, DFineDINOHead):
    """:class:`~mmkd.models.dfine.DFineDINOHead` with the per-layer
    reference losses (same arguments)."""

    def _fdr_dn_losses(
            self, dn_cls: Tensor, dn_boxes: Tensor, dn_corners: Tensor,
            dn_init: Tensor, dn_pre: Tensor, dn_pre_cls: Tensor,
            batch_gt_instances: InstanceList, batch_img_metas: List[dict],
            dn_meta: Dict[str, int], count_weights) -> Dict[str, Tensor]:
        """The losses of one decoder layer at a time, as
        :meth:`~mmkd.models.dfine.DFineDINOHead._fdr_dn_losses`'s."""
        num_layers = dn_cls.shape[0]
        losses = {}
        m = self._gather(
            self._dn_matches(batch_gt_instances, batch_img_metas, dn_meta),
            batch_gt_instances, batch_img_metas, dn_boxes.device)
        avg = self._avg_factor(m['b'].numel(), dn_boxes)
        for i in range(num_layers):
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            lc, lb, li = self._loss_dn_single(
                dn_cls[i],
                dn_boxes[i],
                batch_gt_instances=batch_gt_instances,
                batch_img_metas=batch_img_metas,
                dn_meta=dn_meta)
            losses[prefix + 'dn_loss_cls'] = lc
            losses[prefix + 'dn_loss_bbox'] = lb
            losses[prefix + 'dn_loss_iou'] = li
            if self.loss_fgl is not None:
                losses[prefix + 'dn_loss_fgl'] = self._loss_fgl_matched(
                    dn_corners[i], dn_boxes[i], dn_init, m, avg)
            if self.loss_ddf is not None and i < num_layers - 1:
                losses[prefix + 'dn_loss_ddf'] = self._loss_ddf_matched(
                    dn_corners[i], dn_corners[-1], dn_cls[-1], dn_boxes[i], m,
                    count_weights)
        losses['pre.dn_loss_cls'] = self._loss_dn_single(
            dn_pre_cls,
            dn_pre,
            batch_gt_instances=batch_gt_instances,
            batch_img_metas=batch_img_metas,
            dn_meta=dn_meta)[0]
        lb, li = self._loss_boxes_matched(dn_pre, m, avg)
        losses['pre.dn_loss_bbox'] = lb
        losses['pre.dn_loss_iou'] = li
        return losses


@MODELS.register_module()
class DFineDeformableDETRHeadPerLayer(PerLayerLossMixin,
                                      DFineDeformableDETRHead):
    """:class:`~mmkd.models.dfine.DFineDeformableDETRHead` with the
    per-layer reference losses (same arguments)."""

"""The D-FINE heads' losses of all decoder layers (and of :math:`b^0`) at
once: Hungarian matching of the stacked sets, GO-LSD's union set, mmdet's
classification and box losses, FGL and DDF over a layer dimension.

:mod:`~mmkd.models.dfine.per_layer_loss` is the per-layer reference (same
values, keys and gradients).
"""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmdet.utils import InstanceList
from torch import Tensor

from .fdr_utils import bbox2distance
from .matched_losses import MatchedLossMixin
from .matching import FDRMatchingMixin
from .union_matching import union_set_matching_flat

__all__ = ['LayerLossMixin']


class LayerLossMixin(MatchedLossMixin, FDRMatchingMixin):
    """FGL / DDF and the matching losses of all layers in one pass.

    The matches of every layer become one set of rows tagged with their
    layer, each prediction tensor is indexed once, and the mmdet, FGL and
    DDF losses run once over a layer dimension. Reads the head's
    ``loss_fgl``, ``loss_ddf``, ``project``, ``reg_scale`` and
    ``union_matching`` (see :class:`~.fdr_head.FDRHeadMixin`).
    """

    _enc_in_union = False  # encoder outputs occupy the query slots

    def _loss_fdr_layers(
        self,
        all_corners: Tensor,
        all_boxes: Tensor,
        init_boxes: Tensor,
        teacher_cls: Tensor,
        rows: Dict[str, Tensor],
        avg: Tensor,
        pred: Optional[Tensor] = None,
        count_weights: Optional[Tuple[Tensor, Tensor]] = None
    ) -> Tuple[Optional[Tensor], Optional[Tensor], Optional[Tuple[Tensor,
                                                                   Tensor]]]:
        """FGL of all ``L`` layers and DDF of layers ``0 .. L-2`` at once.

        Args:
            all_corners (Tensor): ``(L, bs, nq, 4 * (N + 1))``.
            all_boxes (Tensor): ``(L, bs, nq, 4)``.
            init_boxes (Tensor): :math:`b^0` ``(bs, nq, 4)``.
            teacher_cls (Tensor): the last layer's class logits
                ``(bs, nq, C)`` (DDF weights of unmatched queries).
            rows (dict): matched rows of the layers, layer-major.
            avg (Tensor): ``(L,)`` normalisers.
            pred (Tensor, optional): ``all_boxes`` at the rows, if gathered.
            count_weights (tuple, optional): DDF's :math:`(\\sqrt{K_m},
                \\sqrt{K_u})`; counted per layer if None.

        Returns:
            tuple: FGL ``(L,)``, DDF ``(L-1,)`` (None when disabled) and
            layer 0's DDF count weights (None unless counted here).
        """
        num_layers, bs, nq = all_corners.shape[:3]
        loss_fgl = loss_ddf = cw0 = None
        l, b, q = rows['l'], rows['b'], rows['q']
        if pred is None:
            pred = all_boxes[l, b, q].float()
        ious = bbox_overlaps(
            bbox_cxcywh_to_xyxy(pred.detach()), rows['xyxy'], is_aligned=True)
        if self.loss_fgl is not None:
            loss_fgl = self.loss_fgl.forward_layers(
                all_corners[l, b, q],
                bbox2distance(init_boxes[b, q], rows['xyxy'], self.reg_scale),
                self.project,
                l,
                num_layers,
                weight=ious,
                avg_factor=avg)
        if self.loss_ddf is not None and num_layers > 1:
            # all L layers' masks, then the last one (the teacher) dropped
            weight = teacher_cls.detach().float().sigmoid().max(-1)[0]
            weight = weight.repeat(num_layers, 1, 1)
            matched = torch.zeros_like(weight, dtype=torch.bool)
            matched[l, b, q] = True
            weight[l, b, q] = ious
            weight = weight[:-1].flatten(1)
            matched = matched[:-1].flatten(1)
            if count_weights is None:
                count_weights = self.loss_ddf.count_weights_layers(matched)
                cw0 = (count_weights[0][0], count_weights[1][0])
            loss_ddf = self.loss_ddf.forward_layers(
                all_corners[:-1].reshape(num_layers - 1, bs * nq, -1),
                all_corners[-1].reshape(bs * nq, -1),
                weight,
                matched,
                count_weights=count_weights)
        return loss_fgl, loss_ddf, cw0

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
    ) -> Tuple[Dict[str, Tensor], Optional[Tuple[Tensor, Tensor]]]:
        """All losses of the matching (non-denoising) queries, of all layers
        at once.

        Returns:
            tuple: the loss dict and the DDF count weights
            :math:`(\\sqrt{K_m}, \\sqrt{K_u})` of layer 0 (reused for the
            denoising queries, as D-FINE does).
        """
        num_layers, bs, nq = all_cls.shape[:3]
        device = all_boxes.device
        gts, metas = batch_gt_instances, batch_img_metas
        # sets 0 .. L-1: the layers, L: b0, L+1: DINO's encoder outputs
        # (the queries' proposals: same queries, gts and union)
        enc_stacked = enc_cls is not None and self._enc_in_union
        stacked_cls = [all_cls, pre_cls[None]]
        stacked_boxes = [all_boxes, pre_boxes[None]]
        if enc_stacked:
            stacked_cls.append(enc_cls[None])
            stacked_boxes.append(enc_boxes[None])
        stacked_cls = torch.cat(stacked_cls)
        stacked_boxes = torch.cat(stacked_boxes)
        num_sets = stacked_cls.shape[0]
        sets = self._hungarian_sets(stacked_cls, stacked_boxes, gts, metas)
        own, counts = self._rows(sets, gts, metas, device)
        enc_own = None
        if enc_cls is not None and not enc_stacked:
            enc_matches = self._hungarian(enc_cls, enc_boxes,
                                          enc_gt_instances, metas)
            enc_own, enc_counts = self._rows([enc_matches], enc_gt_instances,
                                             metas, device)

        if self.union_matching:
            # one call for all layers and images (ties -> lower gt index)
            ub, uq, ug = union_set_matching_flat(own['b'], own['q'],
                                                 own['g'], nq)
            union = self._targets(ub, uq, ug, gts, metas, device)
            n_union = ub.numel()
            box_rows = self._repeat_rows(union, num_sets)
            box_avg = self._avg_factors([n_union], all_boxes).expand(num_sets)
            n_layers = n_union * num_layers
        else:
            box_rows = own
            box_avg = self._avg_factors(counts, all_boxes)
            n_layers = sum(counts[:num_layers])

        loss_cls = self._loss_cls_sets(
            stacked_cls,
            stacked_boxes if self._iou_cls else None, own, counts)
        loss_bbox, loss_iou, pred = self._loss_boxes_sets(
            stacked_boxes, box_rows, box_avg)
        loss_fgl, loss_ddf, count_weights = self._loss_fdr_layers(
            all_corners, all_boxes, init_boxes, all_cls[-1],
            self._head_rows(box_rows, n_layers), box_avg[:num_layers],
            pred[:n_layers])

        # the per-layer reference's key order (the total is summed in it)
        terms = [('loss_cls', loss_cls), ('loss_bbox', loss_bbox),
                 ('loss_iou', loss_iou), ('loss_fgl', loss_fgl),
                 ('loss_ddf', loss_ddf)]
        terms = [(k, v.unbind(0)) for k, v in terms if v is not None]
        losses = {}
        for i in range(num_layers):
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            for name, values in terms:
                if i < len(values):
                    losses[prefix + name] = values[i]
        # b0: classification on its own matches, boxes on the union
        # (official pre_outputs); then DINO's encoder outputs
        for name, values in terms[:3]:
            losses['pre.' + name] = values[num_layers]
        if enc_stacked:
            for name, values in terms[:3]:
                losses['enc_' + name] = values[num_layers + 1]

        # encoder proposals that are not query slots (own matches)
        if enc_own is not None:
            enc_m = enc_own
            enc_avg = self._avg_factors(enc_counts, all_boxes)
            losses['enc_loss_cls'] = self._loss_cls_sets(
                enc_cls[None], enc_boxes[None], enc_own, enc_counts)[0]
            lb, li, _ = self._loss_boxes_sets(enc_boxes[None], enc_m, enc_avg)
            losses['enc_loss_bbox'] = lb[0]
            losses['enc_loss_iou'] = li[0]
        return losses, count_weights

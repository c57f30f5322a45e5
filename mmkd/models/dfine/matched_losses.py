"""mmdet's DETR classification and box losses on matched rows, of one set
of matches or of several stacked sets (decoder layers, :math:`b^0`) in one
call; with :class:`VarifocalLoss` D-FINE's classification loss."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.losses import QualityFocalLoss, VarifocalLoss
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmdet.utils import reduce_mean
from torch import Tensor

from .fdr_utils import segment_sum

__all__ = ['MatchedLossMixin']

_EPS = torch.finfo(torch.float32).eps  # mmdet's weight_reduce_loss epsilon


class MatchedLossMixin:
    """Classification and box losses of a D-FINE head on matched rows
    (:class:`~.matching.FDRMatchingMixin`); reads the mmdet head's
    ``loss_cls``, ``loss_bbox``, ``loss_iou``, ``num_classes``,
    ``cls_out_channels``, ``bg_cls_weight`` and ``sync_cls_avg_factor``."""

    @staticmethod
    def _avg_factor(count: int, ref: Tensor) -> float:
        """The normaliser of ``count`` matched rows, averaged over GPUs."""
        return torch.clamp(
            reduce_mean(ref.new_tensor([float(count)])), min=1).item()

    @staticmethod
    def _avg_factors(counts: List[int], ref: Tensor) -> Tensor:
        """:meth:`_avg_factor` of several sets, ``(S,)`` fp32 (no sync)."""
        return torch.clamp(
            reduce_mean(
                torch.tensor(counts, dtype=torch.float32, device=ref.device)),
            min=1)

    @property
    def _iou_cls(self) -> bool:
        """Whether the classification target carries the matched IoU."""
        return isinstance(self.loss_cls, (QualityFocalLoss, VarifocalLoss))

    def _vfl(self, cls_scores: Tensor, labels: Tensor,
             scores: Tensor) -> Tensor:
        """D-FINE's varifocal loss (official ``loss_labels_vfl``), unreduced.

        mmdet's :class:`VarifocalLoss` has the same value but does not detach
        the prediction in its focal weight; the official weight is detached.

        Args:
            cls_scores (Tensor): ``(N, C)`` logits.
            labels (Tensor): ``(N,)`` labels, ``num_classes`` = background.
            scores (Tensor): ``(N,)`` IoU of the matched pairs (0 elsewhere).

        Returns:
            Tensor: ``(N, C)`` losses times ``loss_cls.loss_weight``.
        """
        one_hot = F.one_hot(labels, self.num_classes + 1)[:, :-1]
        one_hot = one_hot.to(cls_scores.dtype)
        target = one_hot * scores[:, None].to(cls_scores.dtype)
        weight = self.loss_cls.alpha * cls_scores.detach().sigmoid().pow(
            self.loss_cls.gamma) * (1 - one_hot) + target
        return self.loss_cls.loss_weight * F.binary_cross_entropy_with_logits(
            cls_scores, target, weight=weight, reduction='none')

    def _loss_cls_matched(self, cls_scores: Tensor, bbox_preds: Tensor,
                          m: Dict[str, Tensor]) -> Tensor:
        """mmdet's DETR classification loss (D-FINE's for
        :class:`VarifocalLoss`, :meth:`_vfl`) for given matches."""
        bs, nq = cls_scores.shape[:2]
        labels = cls_scores.new_full((bs, nq),
                                     self.num_classes,
                                     dtype=torch.long)
        labels[m['b'], m['q']] = m['labels']
        labels = labels.reshape(-1)
        label_weights = cls_scores.new_ones(bs * nq)
        num_pos = int(m['b'].numel())
        avg = num_pos * 1.0 + (bs * nq - num_pos) * self.bg_cls_weight
        if self.sync_cls_avg_factor:
            avg = reduce_mean(cls_scores.new_tensor([avg]))
        avg = max(avg, 1)
        cls_scores = cls_scores.reshape(-1, self.cls_out_channels)
        if self._iou_cls:
            scores = label_weights.new_zeros(bs, nq)
            if num_pos:
                scores[m['b'], m['q']] = bbox_overlaps(
                    bbox_cxcywh_to_xyxy(
                        bbox_preds[m['b'], m['q']].detach().float()),
                    bbox_cxcywh_to_xyxy(m['cxcywh']),
                    is_aligned=True).to(scores.dtype)
            if isinstance(self.loss_cls, VarifocalLoss):
                return self._vfl(cls_scores, labels,
                                 scores.reshape(-1)).sum() / (avg + _EPS)
            return self.loss_cls(
                cls_scores, (labels, scores.reshape(-1)),
                label_weights,
                avg_factor=avg)
        return self.loss_cls(
            cls_scores, labels, label_weights, avg_factor=avg)

    def _loss_boxes_matched(self, bbox_preds: Tensor, m: Dict[str, Tensor],
                            avg: float) -> Tuple[Tensor, Tensor]:
        """mmdet's L1 + IoU losses on the matched pairs."""
        if m['b'].numel() == 0:
            zero = bbox_preds.sum() * 0.0
            return zero, zero
        pred = bbox_preds[m['b'], m['q']].float()
        loss_bbox = self.loss_bbox(pred, m['cxcywh'], avg_factor=avg)
        loss_iou = self.loss_iou(
            bbox_cxcywh_to_xyxy(pred) * m['factors'],
            m['xyxy'] * m['factors'],
            avg_factor=avg)
        return loss_bbox, loss_iou

    # ------------------------------------------------------------------
    # losses of several sets (layers) at once
    def _loss_cls_sets(self, cls_scores: Tensor, bbox_preds: Optional[Tensor],
                       rows: Dict[str, Tensor],
                       counts: List[int]) -> Tensor:
        """:meth:`_loss_cls_matched` of ``S`` stacked sets in one call.

        Args:
            cls_scores (Tensor): ``(S, bs, nq, C)``.
            bbox_preds (Tensor, optional): ``(S, bs, nq, 4)``; only read by
                :class:`QualityFocalLoss` and :class:`VarifocalLoss`.
            rows (dict): the sets' own matches (:meth:`_rows`).
            counts (list[int]): rows per set.

        Returns:
            Tensor: ``(S,)`` losses.
        """
        num_sets, bs, nq = cls_scores.shape[:3]
        labels = cls_scores.new_full((num_sets, bs, nq),
                                     self.num_classes,
                                     dtype=torch.long)
        labels[rows['l'], rows['b'], rows['q']] = rows['labels']
        labels = labels.reshape(-1)
        label_weights = cls_scores.new_ones(labels.numel())
        num_pos = torch.tensor(
            counts, dtype=torch.float32, device=cls_scores.device)
        avg = num_pos + (bs * nq - num_pos) * self.bg_cls_weight
        if self.sync_cls_avg_factor:
            avg = reduce_mean(avg)
        avg = avg.clamp(min=1)
        target = labels
        if self._iou_cls:
            scores = label_weights.new_zeros(num_sets, bs, nq)
            if rows['b'].numel():
                scores[rows['l'], rows['b'], rows['q']] = bbox_overlaps(
                    bbox_cxcywh_to_xyxy(bbox_preds[
                        rows['l'], rows['b'], rows['q']].detach().float()),
                    bbox_cxcywh_to_xyxy(rows['cxcywh']),
                    is_aligned=True).to(scores.dtype)
            target = (labels, scores.reshape(-1))
        if isinstance(self.loss_cls, VarifocalLoss):
            loss = self._vfl(
                cls_scores.reshape(-1, self.cls_out_channels), *target)
            return loss.reshape(num_sets, -1).sum(1) / (avg + _EPS)
        loss = self.loss_cls(
            cls_scores.reshape(-1, self.cls_out_channels),
            target,
            label_weights,
            reduction_override='none')
        return loss.reshape(num_sets, -1).sum(1) / (avg + _EPS)

    def _loss_boxes_sets(self, bbox_preds: Tensor, rows: Dict[str, Tensor],
                         avg: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """:meth:`_loss_boxes_matched` of ``S`` stacked sets in one call.

        Args:
            bbox_preds (Tensor): ``(S, bs, nq, 4)``.
            rows (dict): the matched rows (``l`` in ``[0, S)``).
            avg (Tensor): ``(S,)`` normalisers.

        Returns:
            tuple[Tensor]: L1 and IoU losses ``(S,)`` and the matched
            predictions ``(n, 4)`` (fp32).
        """
        num_sets = bbox_preds.shape[0]
        pred = bbox_preds[rows['l'], rows['b'], rows['q']].float()
        if pred.shape[0] == 0:
            zero = (bbox_preds.sum() * 0.0).expand(num_sets)
            return zero, zero, pred
        loss_bbox = self.loss_bbox(
            pred, rows['cxcywh'], reduction_override='none')
        loss_iou = self.loss_iou(
            bbox_cxcywh_to_xyxy(pred) * rows['factors'],
            rows['xyxy'] * rows['factors'],
            reduction_override='none')
        denom = avg + _EPS
        return (segment_sum(loss_bbox, rows['l'], num_sets) / denom,
                segment_sum(loss_iou, rows['l'], num_sets) / denom, pred)

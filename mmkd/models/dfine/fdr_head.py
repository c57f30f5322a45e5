"""D-FINE heads for mmdet's DINO and Deformable DETR: FDR box regression,
FGL loss and GO-LSD (union-set matching + DDF self-distillation).

Test-time behaviour is that of the mmdet head they extend: the last layer's
class scores and boxes go through mmdet's ``predict_by_feat``, so the
results are ordinary ``pred_instances`` (bboxes, scores, labels).

Loss keys (per decoder layer ``i < L-1`` with the prefix ``d{i}.``, the last
layer without prefix, as in mmdet): ``loss_cls``, ``loss_bbox``,
``loss_iou`` (mmdet's), ``loss_fgl`` (FDR), ``loss_ddf`` (GO-LSD, earlier
layers only); ``pre.loss_bbox`` / ``pre.loss_iou`` supervise the initial box
:math:`b^0`; ``enc_loss_*`` as in mmdet; for DINO the denoising queries get
the same with the ``dn_`` infix.
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmdet.models.dense_heads import DeformableDETRHead, DINOHead
from mmdet.models.layers import inverse_sigmoid
from mmdet.models.losses import QualityFocalLoss
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmdet.utils import InstanceList, reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor

from mmkd.registry import MODELS
from .fdr_utils import (bbox2distance, distance2bbox, distribution_integral,
                        weighting_function)
from .union_matching import union_set_matching_batch

__all__ = ['FDRHeadMixin', 'DFineDINOHead', 'DFineDeformableDETRHead']

Matches = List[Tuple[Tensor, Tensor]]  # per image: (query inds, gt inds)


def _mlp(embed_dims: int, num_fcs: int, out_dims: int) -> nn.Sequential:
    layers = []
    for _ in range(num_fcs):
        layers += [nn.Linear(embed_dims, embed_dims), nn.ReLU()]
    layers.append(nn.Linear(embed_dims, out_dims))
    return nn.Sequential(*layers)


class FDRHeadMixin:
    """FDR / FGL / GO-LSD machinery mixed into an mmdet DETR head.

    Layout of ``reg_branches`` (so that mmdet's detectors keep working):
    indices ``0 .. L-1`` are the FDR branches (``4 * (N + 1)`` logits per
    query), index ``L`` (two-stage only) is mmdet's 4-d encoder proposal
    branch. ``pre_branch`` predicts the initial box :math:`b^0` after
    decoder layer 0.

    Args (keyword-only, besides the mmdet head's):
        num_bins (int): :math:`N`; each edge has ``N + 1`` bins. Default 32.
        up (float): :math:`a` of :math:`W(n)`. Default 0.5.
        reg_scale (float): :math:`c` of :math:`W(n)`. Default 4.
        loss_fgl (dict): FGL loss config; ``None`` disables it.
            Default ``FGLLoss`` with weight 0.15.
        loss_ddf (dict): DDF (GO-LSD) loss config; ``None`` disables
            DDF. Default ``DDFLoss`` with T = 5 and weight 1.5.
        union_matching (bool, optional): ``True``: the box (L1, IoU), FGL
            and DDF losses of all layers (and of :math:`b^0`) use the union
            set of all layers' matches (:func:`union_set_matching`), as the
            official D-FINE criterion always does, with or without DDF;
            ``False``: each layer uses its own Hungarian matches. The
            classification losses always use each layer's own matches.
            ``None`` (default): ``loss_ddf is not None``, so
            ``loss_ddf=None`` alone gives mmkd's FDR-only mode without the
            union; ``loss_ddf=None, union_matching=True`` is the official
            configuration without DDF.
    """

    _enc_in_union = False  # encoder outputs occupy the query slots

    def __init__(self,
                 *args,
                 num_bins: int = 32,
                 up: float = 0.5,
                 reg_scale: float = 4.0,
                 loss_fgl: Optional[dict] = dict(
                     type='mmkd.FGLLoss', loss_weight=0.15),
                 loss_ddf: Optional[dict] = dict(
                     type='mmkd.DDFLoss', temperature=5.0, loss_weight=1.5),
                 union_matching: Optional[bool] = None,
                 **kwargs) -> None:
        # set before the mmdet head's __init__, which calls _init_layers
        self.num_bins = num_bins
        self.up = up
        self.reg_scale = reg_scale
        self._loss_fgl_cfg = copy.deepcopy(loss_fgl)
        self._loss_ddf_cfg = copy.deepcopy(loss_ddf)
        self.union_matching = (loss_ddf is not None
                               if union_matching is None else union_matching)
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------
    # layers
    def _init_layers(self) -> None:
        super()._init_layers()
        self.num_fdr_layers = self.num_pred_layer - int(self.as_two_stage)
        out_dims = 4 * (self.num_bins + 1)
        if self.share_pred_layer:
            branch = _mlp(self.embed_dims, self.num_reg_fcs, out_dims)
            fdr = [branch for _ in range(self.num_fdr_layers)]
        else:
            fdr = [
                _mlp(self.embed_dims, self.num_reg_fcs, out_dims)
                for _ in range(self.num_fdr_layers)
            ]
        enc = [self.reg_branches[-1]] if self.as_two_stage else []
        self.reg_branches = nn.ModuleList(fdr + enc)
        self.pre_branch = _mlp(self.embed_dims, self.num_reg_fcs, 4)
        self.register_buffer(
            'project',
            weighting_function(self.num_bins, self.up, self.reg_scale),
            persistent=False)
        self.loss_fgl = (None if self._loss_fgl_cfg is None else
                         MODELS.build(self._loss_fgl_cfg))
        self.loss_ddf = (None if self._loss_ddf_cfg is None else
                         MODELS.build(self._loss_ddf_cfg))

    def init_weights(self) -> None:
        super().init_weights()
        for branch in list(self.reg_branches) + [self.pre_branch]:
            nn.init.constant_(branch[-1].weight, 0.)
            nn.init.constant_(branch[-1].bias, 0.)
        if not self.as_two_stage:
            # b0 from a point reference: start with small boxes, as mmdet
            nn.init.constant_(self.pre_branch[-1].bias.data[2:], -2.0)

    # ------------------------------------------------------------------
    # called by the FDR decoders
    def predict_pre_boxes(self, hidden: Tensor, reference: Tensor) -> Tensor:
        """Initial boxes :math:`b^0` (cx, cy, w, h) from layer 0's output and
        its input reference (box or point), as mmdet's box refinement."""
        delta = self.pre_branch(hidden).float()
        ref = inverse_sigmoid(reference.float())
        if ref.shape[-1] == 4:
            return (delta + ref).sigmoid()
        return torch.cat([delta[..., :2] + ref, delta[..., 2:]], -1).sigmoid()

    def refine(self, layer_id: int, hidden: Tensor,
               prev_corners: Optional[Tensor],
               init_boxes: Tensor) -> Tuple[Tensor, Tensor]:
        """One FDR step: residual edge logits and the refined boxes.

        Returns:
            tuple[Tensor, Tensor]: logits ``(bs, nq, 4 * (N + 1))`` (fp32)
            and boxes ``(bs, nq, 4)`` (cx, cy, w, h).
        """
        corners = self.reg_branches[layer_id](hidden).float()
        if prev_corners is not None:
            corners = corners + prev_corners
        offsets = distribution_integral(corners, self.project)
        return corners, distance2bbox(init_boxes, offsets, self.reg_scale)

    # ------------------------------------------------------------------
    # forward / predict
    def forward(self, hidden_states: Tensor, references: List[Tensor],
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Class logits of every layer and the FDR boxes the decoder
        produced (``references[1:]``), in mmdet's format:
        ``(L, bs, nq, C)`` and ``(L, bs, nq, 4)`` (cx, cy, w, h)."""
        num_layers = hidden_states.shape[0]
        cls = torch.stack([
            self.cls_branches[i](hidden_states[i]) for i in range(num_layers)
        ])
        boxes = torch.stack(list(references[1:num_layers + 1]))
        return cls, boxes

    def predict(self,
                hidden_states: Tensor,
                references: List[Tensor],
                batch_data_samples: SampleList,
                rescale: bool = True,
                **kwargs) -> InstanceList:
        """mmdet's prediction from the last layer only."""
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        last = hidden_states.shape[0] - 1
        cls = self.cls_branches[last](hidden_states[last])[None]
        boxes = references[last + 1][None]
        return self.predict_by_feat(
            cls, boxes, batch_img_metas=batch_img_metas, rescale=rescale)

    # ------------------------------------------------------------------
    # matching helpers
    @torch.no_grad()
    def _hungarian(self, cls_scores: Tensor, bbox_preds: Tensor,
                   batch_gt_instances: InstanceList,
                   batch_img_metas: List[dict]) -> Matches:
        matches = []
        for cls, boxes, gt, meta in zip(cls_scores, bbox_preds,
                                        batch_gt_instances, batch_img_metas):
            img_h, img_w = meta['img_shape']
            factor = boxes.new_tensor([img_w, img_h, img_w, img_h]).float()
            pred = InstanceData(
                scores=cls.float(),
                bboxes=bbox_cxcywh_to_xyxy(boxes.float()) * factor)
            result = self.assigner.assign(
                pred_instances=pred, gt_instances=gt, img_meta=meta)
            q = torch.nonzero(result.gt_inds > 0, as_tuple=False).reshape(-1)
            matches.append((q, (result.gt_inds[q] - 1).long()))
        return matches

    @staticmethod
    def _gather(matches: Matches, batch_gt_instances: InstanceList,
                batch_img_metas: List[dict], device) -> Dict[str, Tensor]:
        """Batch indices, query indices, normalised (cx, cy, w, h) targets,
        xyxy targets, labels and image-size factors of the matched pairs."""
        b, q, tgt, labels, factors = [], [], [], [], []
        for i, ((qi, gi), gt, meta) in enumerate(
                zip(matches, batch_gt_instances, batch_img_metas)):
            img_h, img_w = meta['img_shape']
            factor = torch.tensor([img_w, img_h, img_w, img_h],
                                  dtype=torch.float32,
                                  device=device)
            gi = gi.to(device)
            boxes = gt.bboxes[gi].float().to(device) / factor
            b.append(torch.full_like(qi.to(device), i))
            q.append(qi.to(device))
            tgt.append(boxes)
            labels.append(gt.labels[gi].to(device))
            factors.append(factor.expand(len(gi), 4))
        xyxy = torch.cat(tgt)
        cxcywh = torch.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2,
                              (xyxy[:, 1] + xyxy[:, 3]) / 2,
                              xyxy[:, 2] - xyxy[:, 0],
                              xyxy[:, 3] - xyxy[:, 1]], -1)
        return dict(
            b=torch.cat(b).long(),
            q=torch.cat(q).long(),
            xyxy=xyxy,
            cxcywh=cxcywh,
            labels=torch.cat(labels).long(),
            factors=torch.cat(factors))

    @staticmethod
    def _avg_factor(count: int, ref: Tensor) -> float:
        return torch.clamp(
            reduce_mean(ref.new_tensor([float(count)])), min=1).item()

    # ------------------------------------------------------------------
    # per-layer losses
    def _loss_cls_matched(self, cls_scores: Tensor, bbox_preds: Tensor,
                          m: Dict[str, Tensor]) -> Tensor:
        """mmdet's DETR classification loss for given matches."""
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
        if isinstance(self.loss_cls, QualityFocalLoss):
            scores = label_weights.new_zeros(bs, nq)
            if num_pos:
                scores[m['b'], m['q']] = bbox_overlaps(
                    bbox_cxcywh_to_xyxy(
                        bbox_preds[m['b'], m['q']].detach().float()),
                    bbox_cxcywh_to_xyxy(m['cxcywh']),
                    is_aligned=True).to(scores.dtype)
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

    def _matched_ious(self, bbox_preds: Tensor,
                      m: Dict[str, Tensor]) -> Tensor:
        pred = bbox_preds[m['b'], m['q']].detach().float()
        return bbox_overlaps(
            bbox_cxcywh_to_xyxy(pred), m['xyxy'], is_aligned=True)

    def _loss_fgl_matched(self, corners: Tensor, bbox_preds: Tensor,
                          init_boxes: Tensor, m: Dict[str, Tensor],
                          avg: float) -> Tensor:
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

    # ------------------------------------------------------------------
    def _fdr_matching_losses(
        self,
        all_cls: Tensor,
        all_boxes: Tensor,
        all_corners: Tensor,
        init_boxes: Tensor,
        pre_boxes: Tensor,
        enc_cls: Optional[Tensor],
        enc_boxes: Optional[Tensor],
        enc_gt_instances: Optional[InstanceList],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
    ) -> Tuple[Dict[str, Tensor], Optional[Tuple[float, float]]]:
        """All losses of the matching (non-denoising) queries.

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
        pre_matches = self._hungarian(all_cls[0], pre_boxes,
                                      batch_gt_instances, batch_img_metas)
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

        # initial boxes b0
        if union is not None:
            pre_m, pre_avg = union, union_avg
        else:
            pre_m = self._gather(pre_matches, batch_gt_instances,
                                 batch_img_metas, device)
            pre_avg = self._avg_factor(pre_m['b'].numel(), all_boxes)
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
class DFineDINOHead(FDRHeadMixin, DINOHead):
    """mmdet's :class:`~mmdet.models.dense_heads.DINOHead` with D-FINE's FDR
    regression, FGL loss and GO-LSD; use with :class:`DFineDINO`.

    See :class:`FDRHeadMixin` for the extra arguments; all others are
    ``DINOHead``'s.
    """

    _enc_in_union = True  # DINO's encoder outputs are the queries' proposals

    def loss(self, hidden_states: Tensor, references: List[Tensor],
             enc_outputs_class: Tensor, enc_outputs_coord: Tensor,
             batch_data_samples: SampleList, dn_meta: Dict[str, int],
             pred_corners: Tensor, init_boxes: Tensor, pre_boxes: Tensor,
             **kwargs) -> dict:
        """Losses; inputs are the FDR decoder's outputs (see
        :meth:`DFineDINO.forward_decoder`)."""
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        all_cls, all_boxes = self(hidden_states, references)
        return self.loss_by_feat(all_cls, all_boxes, enc_outputs_class,
                                 enc_outputs_coord, batch_gt_instances,
                                 batch_img_metas, dn_meta, pred_corners,
                                 init_boxes, pre_boxes)

    def loss_by_feat(self,
                     all_layers_cls_scores: Tensor,
                     all_layers_bbox_preds: Tensor,
                     enc_cls_scores: Tensor,
                     enc_bbox_preds: Tensor,
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     dn_meta: Dict[str, int],
                     all_layers_corners: Tensor,
                     init_boxes: Tensor,
                     pre_boxes: Tensor,
                     batch_gt_instances_ignore=None) -> Dict[str, Tensor]:
        """Loss function (see the module docstring for the keys)."""
        assert batch_gt_instances_ignore is None
        num_dn = dn_meta['num_denoising_queries'] if dn_meta else 0

        def split(x, dim):
            if x is None:
                return None, None
            return x.narrow(dim, 0, num_dn), x.narrow(dim, num_dn,
                                                      x.shape[dim] - num_dn)

        dn_cls, cls = split(all_layers_cls_scores, 2)
        dn_boxes, boxes = split(all_layers_bbox_preds, 2)
        dn_corners, corners = split(all_layers_corners, 2)
        dn_init, init = split(init_boxes, 1)
        dn_pre, pre = split(pre_boxes, 1)

        losses, count_weights = self._fdr_matching_losses(
            cls, boxes, corners, init, pre, enc_cls_scores, enc_bbox_preds,
            batch_gt_instances, batch_gt_instances, batch_img_metas)
        if num_dn > 0:
            losses.update(
                self._fdr_dn_losses(dn_cls, dn_boxes, dn_corners, dn_init,
                                    dn_pre, batch_gt_instances,
                                    batch_img_metas, dn_meta, count_weights))
        return losses

    def _fdr_dn_losses(self, dn_cls: Tensor, dn_boxes: Tensor,
                       dn_corners: Tensor, dn_init: Tensor, dn_pre: Tensor,
                       batch_gt_instances: InstanceList,
                       batch_img_metas: List[dict], dn_meta: Dict[str, int],
                       count_weights) -> Dict[str, Tensor]:
        """Denoising part: mmdet's dn losses plus FGL / DDF / b0."""
        num_layers = dn_cls.shape[0]
        losses = {}
        matches = []
        for gt, meta in zip(batch_gt_instances, batch_img_metas):
            pos_inds = self._get_dn_targets_single(gt, meta, dn_meta)[4]
            num_gt = len(gt.labels)
            groups = dn_meta['num_denoising_groups']
            gt_inds = torch.arange(
                num_gt, device=pos_inds.device).repeat(groups)
            matches.append((pos_inds, gt_inds[:pos_inds.numel()]))
        m = self._gather(matches, batch_gt_instances, batch_img_metas,
                         dn_boxes.device)
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
        lb, li = self._loss_boxes_matched(dn_pre, m, avg)
        losses['pre.dn_loss_bbox'] = lb
        losses['pre.dn_loss_iou'] = li
        return losses


@MODELS.register_module()
class DFineDeformableDETRHead(FDRHeadMixin, DeformableDETRHead):
    """mmdet's :class:`~mmdet.models.dense_heads.DeformableDETRHead` with
    D-FINE's FDR regression, FGL loss and GO-LSD; use with
    :class:`DFineDeformableDETR` (``with_box_refine=True``; two-stage or
    not). The two-stage encoder loss stays mmdet's (class-agnostic, own
    matching: its proposals are not the decoder's query slots)."""

    def loss(self, hidden_states: Tensor, references: List[Tensor],
             enc_outputs_class: Tensor, enc_outputs_coord: Tensor,
             batch_data_samples: SampleList, pred_corners: Tensor,
             init_boxes: Tensor, pre_boxes: Tensor, **kwargs) -> dict:
        """Losses; inputs are the FDR decoder's outputs."""
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        all_cls, all_boxes = self(hidden_states, references)
        return self.loss_by_feat(all_cls, all_boxes, enc_outputs_class,
                                 enc_outputs_coord, batch_gt_instances,
                                 batch_img_metas, pred_corners, init_boxes,
                                 pre_boxes)

    def loss_by_feat(self,
                     all_layers_cls_scores: Tensor,
                     all_layers_bbox_preds: Tensor,
                     enc_cls_scores: Optional[Tensor],
                     enc_bbox_preds: Optional[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     all_layers_corners: Tensor,
                     init_boxes: Tensor,
                     pre_boxes: Tensor,
                     batch_gt_instances_ignore=None) -> Dict[str, Tensor]:
        """Loss function (see the module docstring for the keys)."""
        assert batch_gt_instances_ignore is None
        enc_gts = None
        if enc_cls_scores is not None:
            enc_gts = copy.deepcopy(batch_gt_instances)
            for g in enc_gts:
                g.labels = torch.zeros_like(g.labels)
        losses, _ = self._fdr_matching_losses(
            all_layers_cls_scores, all_layers_bbox_preds, all_layers_corners,
            init_boxes, pre_boxes, enc_cls_scores, enc_bbox_preds, enc_gts,
            batch_gt_instances, batch_img_metas)
        return losses

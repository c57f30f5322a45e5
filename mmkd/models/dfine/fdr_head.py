"""D-FINE heads for mmdet's DINO and Deformable DETR: FDR box regression,
FGL loss and GO-LSD (union-set matching + DDF self-distillation).

Test-time behaviour is that of the mmdet head they extend: the last layer's
class scores and boxes go through mmdet's ``predict_by_feat``, so the
results are ordinary ``pred_instances`` (bboxes, scores, labels).

Each layer's class logits get D-FINE's localization quality term
(:class:`LQE`, computed from the layer's edge distributions) unless
``use_lqe=False``; matching, classification losses, DDF weights and test-time
scores all use these logits.

Loss keys (per decoder layer ``i < L-1`` with the prefix ``d{i}.``, the last
layer without prefix, as in mmdet): ``loss_cls``, ``loss_bbox``,
``loss_iou`` (mmdet's), ``loss_fgl`` (FDR), ``loss_ddf`` (GO-LSD, earlier
layers only); ``pre.loss_cls`` / ``pre.loss_bbox`` / ``pre.loss_iou``
supervise the initial box :math:`b^0` with layer 0's class logits without
LQE (the official ``pre_outputs``); ``enc_loss_*`` as in mmdet; for DINO the
denoising queries get the same with the ``dn_`` infix.
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.dense_heads import DeformableDETRHead, DINOHead
from mmdet.models.layers import inverse_sigmoid
from mmdet.models.losses import QualityFocalLoss, VarifocalLoss
from mmdet.models.task_modules import HungarianAssigner
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmdet.utils import InstanceList, reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor

from mmkd.registry import MODELS
from .fdr_utils import (bbox2distance, distance2bbox, distribution_integral,
                        segment_sum, weighting_function)
from .union_matching import union_set_matching_flat

__all__ = ['LQE', 'FDRHeadMixin', 'DFineDINOHead', 'DFineDeformableDETRHead']

Matches = List[Tuple[Tensor, Tensor]]  # per image: (query inds, gt inds)
_EPS = torch.finfo(torch.float32).eps  # mmdet's weight_reduce_loss epsilon


def _mlp(embed_dims: int, num_fcs: int, out_dims: int) -> nn.Sequential:
    layers = []
    for _ in range(num_fcs):
        layers += [nn.Linear(embed_dims, embed_dims), nn.ReLU()]
    layers.append(nn.Linear(embed_dims, out_dims))
    return nn.Sequential(*layers)


class LQE(nn.Module):
    """D-FINE's Localization Quality Estimator.

    Per query, the softmax of each edge's ``N + 1`` logits gives its top-k
    probabilities and their mean; the ``4 * (k + 1)`` statistics go through
    an MLP (``num_layers`` linear layers, ReLU between) whose scalar output
    is added to every class logit. The last layer starts at zero, so the
    term is 0 at initialisation (the official ``LQE(4, 64, 2, reg_max)``).

    Args:
        num_bins (int): :math:`N`; each edge has ``N + 1`` bins.
        k (int): top-k probabilities per edge. Defaults to 4.
        hidden_dims (int): width of the hidden layers. Defaults to 64.
        num_layers (int): number of linear layers. Defaults to 2.
    """

    def __init__(self,
                 num_bins: int,
                 k: int = 4,
                 hidden_dims: int = 64,
                 num_layers: int = 2) -> None:
        super().__init__()
        self.num_bins = num_bins
        self.k = k
        dims = [4 * (k + 1)] + [hidden_dims] * (num_layers - 1)
        layers = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], 1))
        self.reg_conf = nn.Sequential(*layers)
        self.init_weights()

    def init_weights(self) -> None:
        """Zero the last layer (as the official code)."""
        nn.init.constant_(self.reg_conf[-1].weight, 0.)
        nn.init.constant_(self.reg_conf[-1].bias, 0.)

    def forward(self, scores: Tensor, corners: Tensor) -> Tensor:
        """Add the quality term.

        Args:
            scores (Tensor): class logits ``(..., C)``.
            corners (Tensor): edge logits ``(..., 4 * (N + 1))``.

        Returns:
            Tensor: ``scores`` plus the quality term ``(..., 1)``.
        """
        prob = corners.reshape(*corners.shape[:-1], 4,
                               self.num_bins + 1).softmax(-1)
        topk = prob.topk(self.k, dim=-1)[0]
        stat = torch.cat([topk, topk.mean(-1, keepdim=True)], -1)
        return scores + self.reg_conf(stat.flatten(-2))


class FDRHeadMixin:
    """FDR / FGL / GO-LSD machinery mixed into an mmdet DETR head.

    Layout of ``reg_branches`` (so that mmdet's detectors keep working):
    indices ``0 .. L-1`` are the FDR branches (``4 * (N + 1)`` logits per
    query), index ``L`` (two-stage only) is mmdet's 4-d encoder proposal
    branch. ``pre_branch`` predicts the initial box :math:`b^0` after
    decoder layer 0. ``lqe_layers`` (one :class:`LQE` per decoder layer)
    add the quality term to the layers' class logits.

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
        use_lqe (bool): add D-FINE's localization quality term
            (:class:`LQE`) to each decoder layer's class logits. Default
            True, as D-FINE.

    The losses of all decoder layers (and of :math:`b^0`) are computed
    together: the matches of every layer become one set of rows tagged with
    their layer, each prediction tensor is indexed once, and the mmdet,
    FGL and DDF losses run once over a layer dimension. Their per-layer
    reference (same values) is in :mod:`mmkd.models.dfine.per_layer_loss`.
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
                 use_lqe: bool = True,
                 **kwargs) -> None:
        # set before the mmdet head's __init__, which calls _init_layers
        self.num_bins = num_bins
        self.use_lqe = use_lqe
        self.up = up
        self.reg_scale = reg_scale
        self._loss_fgl_cfg = copy.deepcopy(loss_fgl)
        self._loss_ddf_cfg = copy.deepcopy(loss_ddf)
        self.union_matching = (loss_ddf is not None
                               if union_matching is None else union_matching)
        super().__init__(*args, **kwargs)
        if isinstance(self.loss_cls, VarifocalLoss):
            assert self.loss_cls.iou_weighted, \
                'D-FINE\'s VFL (iou_weighted=True) only'

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
        self.lqe_layers = None
        if self.use_lqe:
            lqe = [LQE(self.num_bins) for _ in range(self.num_fdr_layers)]
            if self.share_pred_layer:
                lqe = [lqe[0]] * self.num_fdr_layers
            self.lqe_layers = nn.ModuleList(lqe)
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
        if self.lqe_layers is not None:
            for lqe in self.lqe_layers:
                lqe.init_weights()
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

    def refine(self,
               layer_id: int,
               hidden: Tensor,
               prev_corners: Optional[Tensor],
               init_boxes: Tensor,
               prev_hidden: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """One FDR step: residual edge logits and the refined boxes.

        Args:
            layer_id (int): decoder layer index.
            hidden (Tensor): the layer's output ``(bs, nq, dim)``.
            prev_corners (Tensor, optional): layer ``l-1``'s edge logits.
            init_boxes (Tensor): :math:`b^0` (cx, cy, w, h), detached.
            prev_hidden (Tensor, optional): layer ``l-1``'s output; the FDR
                branch sees ``hidden + prev_hidden.detach()`` (the official
                ``output + output_detach``), or ``hidden`` alone if None
                (layer 0).

        Returns:
            tuple[Tensor, Tensor]: logits ``(bs, nq, 4 * (N + 1))`` (fp32)
            and boxes ``(bs, nq, 4)`` (cx, cy, w, h).
        """
        if prev_hidden is not None:
            hidden = hidden + prev_hidden.detach()
        corners = self.reg_branches[layer_id](hidden).float()
        if prev_corners is not None:
            corners = corners + prev_corners
        offsets = distribution_integral(corners, self.project)
        return corners, distance2bbox(init_boxes, offsets, self.reg_scale)

    # ------------------------------------------------------------------
    # forward / predict
    def _layer_cls(self, layer_id: int, hidden: Tensor,
                   corners: Optional[Tensor]) -> Tensor:
        """One layer's class logits, plus the LQE term when enabled."""
        cls = self.cls_branches[layer_id](hidden)
        if self.lqe_layers is None:
            return cls
        if corners is None:
            raise ValueError('use_lqe=True needs the layers\' pred_corners')
        return self.lqe_layers[layer_id](cls, corners)

    def forward(self,
                hidden_states: Tensor,
                references: List[Tensor],
                pred_corners: Optional[Tensor] = None,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Class logits of every layer (with LQE, from ``pred_corners``
        ``(L, bs, nq, 4 * (N + 1))``) and the FDR boxes the decoder produced
        (``references[1:]``), in mmdet's format: ``(L, bs, nq, C)`` and
        ``(L, bs, nq, 4)`` (cx, cy, w, h)."""
        num_layers = hidden_states.shape[0]
        cls = torch.stack([
            self._layer_cls(
                i, hidden_states[i],
                None if pred_corners is None else pred_corners[i])
            for i in range(num_layers)
        ])
        boxes = torch.stack(list(references[1:num_layers + 1]))
        return cls, boxes

    def pre_cls_scores(self, hidden_states: Tensor) -> Tensor:
        """Class logits of :math:`b^0`: layer 0's class branch on layer 0's
        output, without LQE (the official ``pre_scores``)."""
        return self.cls_branches[0](hidden_states[0])

    def predict(self,
                hidden_states: Tensor,
                references: List[Tensor],
                batch_data_samples: SampleList,
                rescale: bool = True,
                pred_corners: Optional[Tensor] = None,
                **kwargs) -> InstanceList:
        """mmdet's prediction from the last layer only."""
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        last = hidden_states.shape[0] - 1
        cls = self._layer_cls(
            last, hidden_states[last],
            None if pred_corners is None else pred_corners[last])[None]
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

    @torch.no_grad()
    def _hungarian_sets(self, cls_sets: Tensor, box_sets: Tensor,
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict]) -> List[Matches]:
        """:meth:`_hungarian` of ``S`` stacked prediction sets (decoder
        layers, :math:`b^0`) ``(S, bs, nq, C)`` / ``(S, bs, nq, 4)``.

        mmdet's match costs are per query, so with its
        :class:`HungarianAssigner` they are computed once per image for the
        queries of all sets, and only the assignment runs per set (the same
        costs, hence the same matches). Other assigners run per set.
        """
        if type(self.assigner) is not HungarianAssigner:
            return [
                self._hungarian(c, b, batch_gt_instances, batch_img_metas)
                for c, b in zip(cls_sets, box_sets)
            ]
        from scipy.optimize import linear_sum_assignment
        num_sets, _, nq = cls_sets.shape[:3]
        per_set = [[] for _ in range(num_sets)]
        for i, (gt, meta) in enumerate(zip(batch_gt_instances,
                                           batch_img_metas)):
            device = gt.labels.device
            if len(gt.labels) == 0:
                empty = torch.zeros(0, dtype=torch.long, device=device)
                for matches in per_set:
                    matches.append((empty, empty))
                continue
            img_h, img_w = meta['img_shape']
            factor = box_sets.new_tensor([img_w, img_h, img_w, img_h]).float()
            pred = InstanceData(
                scores=cls_sets[:, i].reshape(num_sets * nq, -1).float(),
                bboxes=bbox_cxcywh_to_xyxy(box_sets[:, i].reshape(
                    num_sets * nq, 4).float()) * factor)
            cost = torch.stack([
                match_cost(
                    pred_instances=pred, gt_instances=gt, img_meta=meta)
                for match_cost in self.assigner.match_costs
            ]).sum(0)
            cost = cost.detach().cpu().reshape(num_sets, nq, -1).numpy()
            for matches, c in zip(per_set, cost):
                q, g = linear_sum_assignment(c)
                matches.append((torch.from_numpy(q).to(device),
                                torch.from_numpy(g).to(device)))
        return per_set

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
    # matched rows of all layers at once
    @staticmethod
    def _rows(match_sets: List[Matches], batch_gt_instances: InstanceList,
              batch_img_metas: List[dict],
              device) -> Tuple[Dict[str, Tensor], List[int]]:
        """The matched pairs of several match sets (one per decoder layer,
        say) as one set of rows, set-major, then image-major.

        Returns:
            tuple: the rows (``l`` set, ``b`` image, ``q`` query and the
            targets of :meth:`_gather`) and the number of rows of each set.
        """
        num_imgs = len(batch_img_metas)
        pieces = [m for matches in match_sets for m in matches]
        lengths = [qi.numel() for qi, _ in pieces]
        counts = [
            sum(lengths[i * num_imgs:(i + 1) * num_imgs])
            for i in range(len(match_sets))
        ]
        piece = torch.repeat_interleave(
            torch.arange(len(pieces), device=device),
            torch.tensor(lengths, device=device),
            output_size=sum(lengths))
        q = torch.cat([qi.reshape(-1) for qi, _ in pieces]).to(device).long()
        g = torch.cat([gi.reshape(-1) for _, gi in pieces]).to(device).long()
        rows = FDRHeadMixin._targets(piece % num_imgs, q, g,
                                     batch_gt_instances, batch_img_metas,
                                     device)
        rows['l'] = piece // num_imgs
        return rows, counts

    @staticmethod
    def _targets(b: Tensor, q: Tensor, g: Tensor,
                 batch_gt_instances: InstanceList, batch_img_metas: List[dict],
                 device) -> Dict[str, Tensor]:
        """Targets of (image, query, gt) rows, as :meth:`_gather`'s."""
        factors = torch.tensor(
            [[m['img_shape'][1], m['img_shape'][0]] * 2
             for m in batch_img_metas],
            dtype=torch.float32,
            device=device)
        starts, n = [], 0
        for gt in batch_gt_instances:
            starts.append(n)
            n += len(gt.labels)
        idx = torch.tensor(starts, dtype=torch.long, device=device)[b] + g
        gt_boxes = torch.cat([gt.bboxes.float()
                              for gt in batch_gt_instances]).to(device)
        gt_labels = torch.cat([gt.labels
                               for gt in batch_gt_instances]).to(device)
        factor = factors[b]
        xyxy = gt_boxes[idx] / factor
        cxcywh = torch.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2,
                              (xyxy[:, 1] + xyxy[:, 3]) / 2,
                              xyxy[:, 2] - xyxy[:, 0],
                              xyxy[:, 3] - xyxy[:, 1]], -1)
        return dict(
            b=b,
            q=q,
            g=g,
            xyxy=xyxy,
            cxcywh=cxcywh,
            labels=gt_labels[idx].long(),
            factors=factor)

    @staticmethod
    def _repeat_rows(rows: Dict[str, Tensor],
                     times: int) -> Dict[str, Tensor]:
        """The same rows for ``times`` sets (``l`` = 0 .. times - 1)."""
        n = rows['b'].numel()
        out = {
            k: v.repeat(times, *([1] * (v.dim() - 1)))
            for k, v in rows.items() if k != 'l'
        }
        out['l'] = torch.arange(
            times, device=rows['b'].device).repeat_interleave(n)
        return out

    @staticmethod
    def _head_rows(rows: Dict[str, Tensor], n: int) -> Dict[str, Tensor]:
        """The first ``n`` rows."""
        return {k: v[:n] for k, v in rows.items()}

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

    # ------------------------------------------------------------------
    # losses of one set of matches
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


@MODELS.register_module()
class DFineDINOHead(FDRHeadMixin, DINOHead):
    """mmdet's :class:`~mmdet.models.dense_heads.DINOHead` with D-FINE's FDR
    regression, FGL loss and GO-LSD; use with :class:`DFineDINO`.

    See :class:`FDRHeadMixin` for the extra arguments; all others are
    ``DINOHead``'s.
    """

    _enc_in_union = True  # DINO's encoder outputs are the queries' proposals

    def _dn_matches(self, batch_gt_instances: InstanceList,
                    batch_img_metas: List[dict],
                    dn_meta: Dict[str, int]) -> Matches:
        """The denoising queries' (query inds, gt inds) of each image."""
        matches = []
        for gt, meta in zip(batch_gt_instances, batch_img_metas):
            pos_inds = self._get_dn_targets_single(gt, meta, dn_meta)[4]
            gt_inds = torch.arange(
                len(gt.labels), device=pos_inds.device).repeat(
                    dn_meta['num_denoising_groups'])
            matches.append((pos_inds, gt_inds[:pos_inds.numel()]))
        return matches

    def _loss_dn_single(self, dn_cls_scores: Tensor, dn_bbox_preds: Tensor,
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict],
                        dn_meta: Dict[str, int]) -> Tuple[Tensor]:
        """mmdet's denoising losses of one layer; with :class:`VarifocalLoss`
        (which mmdet's passes integer labels to) D-FINE's VFL on the same
        targets and the same L1 / IoU losses.

        Returns:
            tuple: ``loss_cls``, ``loss_bbox`` and ``loss_iou``.
        """
        if not isinstance(self.loss_cls, VarifocalLoss):
            return super()._loss_dn_single(dn_cls_scores, dn_bbox_preds,
                                           batch_gt_instances,
                                           batch_img_metas, dn_meta)
        m = self._gather(
            self._dn_matches(batch_gt_instances, batch_img_metas, dn_meta),
            batch_gt_instances, batch_img_metas, dn_bbox_preds.device)
        loss_bbox, loss_iou = self._loss_boxes_matched(
            dn_bbox_preds, m, self._avg_factor(m['b'].numel(), dn_bbox_preds))
        return (self._loss_cls_matched(dn_cls_scores, dn_bbox_preds, m),
                loss_bbox, loss_iou)

    def loss(self, hidden_states: Tensor, references: List[Tensor],
             enc_outputs_class: Tensor, enc_outputs_coord: Tensor,
             batch_data_samples: SampleList, dn_meta: Dict[str, int],
             pred_corners: Tensor, init_boxes: Tensor, pre_boxes: Tensor,
             **kwargs) -> dict:
        """Losses; inputs are the FDR decoder's outputs (see
        :meth:`DFineDINO.forward_decoder`)."""
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        all_cls, all_boxes = self(hidden_states, references, pred_corners)
        return self.loss_by_feat(all_cls, all_boxes, enc_outputs_class,
                                 enc_outputs_coord, batch_gt_instances,
                                 batch_img_metas, dn_meta, pred_corners,
                                 init_boxes, pre_boxes,
                                 self.pre_cls_scores(hidden_states))

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
                     pre_cls_scores: Tensor,
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
        dn_pre_cls, pre_cls = split(pre_cls_scores, 1)

        losses, count_weights = self._fdr_matching_losses(
            cls, boxes, corners, init, pre, pre_cls, enc_cls_scores,
            enc_bbox_preds, batch_gt_instances, batch_gt_instances,
            batch_img_metas)
        if num_dn > 0:
            losses.update(
                self._fdr_dn_losses(dn_cls, dn_boxes, dn_corners, dn_init,
                                    dn_pre, dn_pre_cls, batch_gt_instances,
                                    batch_img_metas, dn_meta, count_weights))
        return losses

    def _fdr_dn_losses(self, dn_cls: Tensor, dn_boxes: Tensor,
                       dn_corners: Tensor, dn_init: Tensor, dn_pre: Tensor,
                       dn_pre_cls: Tensor, batch_gt_instances: InstanceList,
                       batch_img_metas: List[dict], dn_meta: Dict[str, int],
                       count_weights) -> Dict[str, Tensor]:
        """Denoising part: mmdet's dn losses plus FGL / DDF / b0 (its
        classification as mmdet's dn classification loss); FGL and DDF of
        all layers at once."""
        num_layers = dn_cls.shape[0]
        device = dn_boxes.device
        matches = self._dn_matches(batch_gt_instances, batch_img_metas,
                                   dn_meta)
        m, counts = self._rows([matches], batch_gt_instances,
                               batch_img_metas, device)
        avg = self._avg_factors(counts, dn_boxes)
        loss_fgl, loss_ddf, _ = self._loss_fdr_layers(
            dn_corners, dn_boxes, dn_init, dn_cls[-1],
            self._repeat_rows(m, num_layers), avg.expand(num_layers),
            count_weights=count_weights)
        loss_fgl = None if loss_fgl is None else loss_fgl.unbind(0)
        loss_ddf = None if loss_ddf is None else loss_ddf.unbind(0)
        losses = {}
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
            if loss_fgl is not None:
                losses[prefix + 'dn_loss_fgl'] = loss_fgl[i]
            if loss_ddf is not None and i < num_layers - 1:
                losses[prefix + 'dn_loss_ddf'] = loss_ddf[i]
        losses['pre.dn_loss_cls'] = self._loss_dn_single(
            dn_pre_cls,
            dn_pre,
            batch_gt_instances=batch_gt_instances,
            batch_img_metas=batch_img_metas,
            dn_meta=dn_meta)[0]
        lb, li, _ = self._loss_boxes_sets(dn_pre[None], m, avg)
        losses['pre.dn_loss_bbox'] = lb[0]
        losses['pre.dn_loss_iou'] = li[0]
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
        all_cls, all_boxes = self(hidden_states, references, pred_corners)
        return self.loss_by_feat(all_cls, all_boxes, enc_outputs_class,
                                 enc_outputs_coord, batch_gt_instances,
                                 batch_img_metas, pred_corners, init_boxes,
                                 pre_boxes, self.pre_cls_scores(hidden_states))

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
                     pre_cls_scores: Tensor,
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
            init_boxes, pre_boxes, pre_cls_scores, enc_cls_scores,
            enc_bbox_preds, enc_gts, batch_gt_instances, batch_img_metas)
        return losses

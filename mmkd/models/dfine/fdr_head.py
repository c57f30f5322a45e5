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
from mmdet.models.dense_heads import DeformableDETRHead, DINOHead
from mmdet.models.layers import inverse_sigmoid
from mmdet.models.losses import VarifocalLoss
from mmdet.structures import SampleList
from mmdet.utils import InstanceList
from torch import Tensor

from mmkd.registry import MODELS
from .fdr_utils import distance2bbox, distribution_integral, weighting_function
from .layer_losses import LayerLossMixin
from .lqe import LQE
from .matching import Matches

__all__ = ['FDRHeadMixin', 'DFineDINOHead', 'DFineDeformableDETRHead']


def _mlp(embed_dims: int, num_fcs: int, out_dims: int) -> nn.Sequential:
    layers = []
    for _ in range(num_fcs):
        layers += [nn.Linear(embed_dims, embed_dims), nn.ReLU()]
    layers.append(nn.Linear(embed_dims, out_dims))
    return nn.Sequential(*layers)


class FDRHeadMixin(LayerLossMixin):
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
    together (:class:`~.layer_losses.LayerLossMixin`); their per-layer
    reference (same values) is in :mod:`mmkd.models.dfine.per_layer_loss`.
    """

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

"""Fine-Grained Localization (FGL) loss of D-FINE."""
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .fdr_utils import segment_sum, two_bin_targets


@MODELS.register_module()
class FGLLoss(nn.Module):
    """Fine-Grained Localization loss: IoU-weighted two-bin cross-entropy on
    the non-uniform FDR grid.

    For every matched query and edge, the continuous target offset :math:`v`
    is located between its two neighbouring bins :math:`W(i) \\le v <
    W(i+1)` with linear weights :math:`\\omega_l, \\omega_r` (see
    :func:`~mmkd.models.dfine.fdr_utils.two_bin_targets`):

    .. math::
        L_{FGL} = \\frac{1}{K} \\sum_{k=1}^{K} \\mathrm{IoU}_k
        \\sum_{e=1}^{4} \\big(\\omega_l \\, CE(p_{k,e}, i) + \\omega_r \\,
        CE(p_{k,e}, i + 1)\\big)

    with :math:`K` = ``avg_factor`` (the number of matched boxes). The
    weights are detached; everything is computed in fp32.

    Reference: D-FINE (arXiv 2410.13842), Eq. (5); the official
    ``unimodal_distribution_focal_loss``.

    Args:
        loss_weight (float): Defaults to 0.15 (D-FINE's setting).
    """

    def __init__(self, loss_weight: float = 0.15) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self,
                pred_corners: Tensor,
                target: Tensor,
                project: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred_corners (Tensor): edge logits of the matched queries,
                ``(n, 4, N + 1)`` (or ``(n, 4 * (N + 1))``).
            target (Tensor): continuous target offsets ``(n, 4)`` in units
                of :math:`W` (:func:`bbox2distance`).
            project (Tensor): the grid :math:`W`, ``(N + 1,)``.
            weight (Tensor, optional): per-box weight ``(n,)`` (the IoU of
                the predicted box with its target) or per-edge ``(n, 4)``.
            avg_factor (float, optional): normaliser; defaults to ``n``.

        Returns:
            Tensor: scalar loss, multiplied by ``loss_weight``.
        """
        if pred_corners.numel() == 0:
            return pred_corners.sum() * 0.0
        loss = self._per_box(pred_corners, target, project, weight)
        if avg_factor is None:
            avg_factor = loss.shape[0]
        return self.loss_weight * loss.sum() / max(float(avg_factor), 1e-6)

    def forward_layers(self,
                       pred_corners: Tensor,
                       target: Tensor,
                       project: Tensor,
                       layer_inds: Tensor,
                       num_layers: int,
                       weight: Optional[Tensor] = None,
                       avg_factor: Union[Tensor, float, None] = None
                       ) -> Tensor:
        """The losses of several decoder layers in one computation: the
        matched queries of all layers stacked, each row tagged with its
        layer. Equal to :meth:`forward` on each layer's rows.

        Args:
            pred_corners (Tensor): ``(n, 4, N + 1)`` (or ``(n, 4 * (N + 1))``)
                edge logits of the matched queries of all layers.
            target (Tensor): ``(n, 4)`` continuous target offsets.
            project (Tensor): the grid :math:`W`, ``(N + 1,)``.
            layer_inds (Tensor): long ``(n,)``, the layer of each row.
            num_layers (int): :math:`L`.
            weight (Tensor, optional): ``(n,)`` or ``(n, 4)``.
            avg_factor (Tensor | float, optional): per-layer normalisers
                ``(L,)`` or one for all; defaults to each layer's row count.

        Returns:
            Tensor: ``(L,)`` losses, multiplied by ``loss_weight``.
        """
        if pred_corners.numel() == 0:
            return (pred_corners.sum() * 0.0).expand(num_layers)
        loss = self._per_box(pred_corners, target, project, weight)
        sums = segment_sum(loss, layer_inds, num_layers)
        if avg_factor is None:
            avg_factor = segment_sum(torch.ones_like(loss[:, 0]), layer_inds,
                                     num_layers)
        avg = torch.as_tensor(avg_factor, dtype=sums.dtype,
                              device=sums.device).clamp(min=1e-6)
        return self.loss_weight * sums / avg

    @staticmethod
    def _per_box(pred_corners: Tensor, target: Tensor, project: Tensor,
                 weight: Optional[Tensor]) -> Tensor:
        """Weighted two-bin cross-entropy per box and edge, ``(n, 4)``."""
        logits = pred_corners.float().reshape(-1, project.numel())
        left, w_left, w_right = two_bin_targets(target.reshape(-1), project)
        loss = (F.cross_entropy(logits, left, reduction='none') * w_left +
                F.cross_entropy(logits, left + 1, reduction='none') * w_right)
        loss = loss.reshape(-1, 4)
        if weight is not None:
            weight = weight.detach().float()
            loss = loss * (weight[:, None] if weight.dim() == 1 else weight)
        return loss

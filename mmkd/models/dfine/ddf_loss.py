"""Decoupled Distillation Focal (DDF) loss of D-FINE's GO-LSD."""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class DDFLoss(nn.Module):
    """Decoupled Distillation Focal loss (GO-LSD's localization
    self-distillation).

    The detached edge distributions of the last decoder layer (teacher)
    teach those of an earlier layer (student). Per query :math:`k` and edge
    :math:`e`:

    .. math::
        \\ell_{k,e} = \\alpha_k T^2 KL\\big(\\mathrm{softmax}(t_{k,e}/T)
        \\,\\|\\, \\mathrm{softmax}(s_{k,e}/T)\\big)

    with :math:`\\alpha_k` the IoU of the student layer's box with its ground
    truth for queries in the (union) matched set, and the teacher's
    confidence :math:`\\max_c \\sigma(z^t_{k,c})` for the others. Matched
    and unmatched terms are averaged separately and mixed with square-root
    count weights, so neither group dominates:

    .. math::
        L_{DDF} = \\frac{\\bar\\ell_{m}\\sqrt{K_m} + \\bar\\ell_{u}\\sqrt{K_u}}
        {\\sqrt{K_m} + \\sqrt{K_u}}

    where :math:`\\bar\\ell_m, \\bar\\ell_u` are the means over the matched /
    unmatched (query, edge) terms and :math:`K_m, K_u` the numbers of matched
    / unmatched queries (the official code counts edges and rescales by a
    batch factor; both cancel in the ratio). Computed in fp32.

    Reference: D-FINE (arXiv 2410.13842), Eq. (6); the official
    ``DFINECriterion.loss_local``.

    Args:
        temperature (float): :math:`T`. Defaults to 5.
        loss_weight (float): Defaults to 1.5 (D-FINE's setting).
    """

    def __init__(self,
                 temperature: float = 5.0,
                 loss_weight: float = 1.5) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.loss_weight = loss_weight

    @staticmethod
    def count_weights(matched: Tensor) -> Tuple[float, float]:
        """:math:`(\\sqrt{K_m}, \\sqrt{K_u})` for a boolean matched mask."""
        k_m = int(matched.sum())
        return math.sqrt(k_m), math.sqrt(matched.numel() - k_m)

    def forward(self,
                student: Tensor,
                teacher: Tensor,
                weight: Tensor,
                matched: Tensor,
                count_weights: Optional[Tuple[float, float]] = None,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): edge logits ``(M, 4, N + 1)`` (or
                ``(M, 4 * (N + 1))``) of every query of the student layer.
            teacher (Tensor): the teacher's logits, same shape (detached
                here).
            weight (Tensor): per-query weight :math:`\\alpha` ``(M,)``.
            matched (Tensor): bool ``(M,)``, True for matched queries.
            count_weights (tuple[float], optional): use these
                :math:`(\\sqrt{K_m}, \\sqrt{K_u})` instead of counting
                ``matched`` (D-FINE reuses the matching part's counts for the
                denoising queries).

        Returns:
            Tensor: scalar loss, multiplied by ``loss_weight``.
        """
        num_q = matched.numel()
        if num_q == 0:
            return student.sum() * 0.0
        T = self.temperature
        s = student.float().reshape(num_q, 4, -1) / T
        t = teacher.detach().float().reshape(num_q, 4, -1) / T
        kl = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1),
                      reduction='none', log_target=True).sum(-1)  # (M, 4)
        loss = weight.detach().float()[:, None] * (T**2) * kl
        matched = matched.bool()
        if count_weights is None:
            count_weights = self.count_weights(matched)
        sq_m, sq_u = count_weights
        zero = loss.sum() * 0.0
        mean_m = loss[matched].mean() if matched.any() else zero
        mean_u = loss[~matched].mean() if (~matched).any() else zero
        denom = sq_m + sq_u
        if denom <= 0:
            return zero
        return self.loss_weight * (mean_m * sq_m + mean_u * sq_u) / denom

    @staticmethod
    def count_weights_layers(matched: Tensor) -> Tuple[Tensor, Tensor]:
        """:math:`(\\sqrt{K_m}, \\sqrt{K_u})` per layer for a boolean
        ``(L, M)`` matched mask, as fp32 tensors ``(L,)`` (no host sync)."""
        k_m = matched.sum(-1).float()
        return k_m.sqrt(), (matched.shape[-1] - k_m).sqrt()

    def forward_layers(
        self,
        student: Tensor,
        teacher: Tensor,
        weight: Tensor,
        matched: Tensor,
        count_weights: Optional[Tuple[Union[Tensor, float],
                                      Union[Tensor, float]]] = None
    ) -> Tensor:
        """The losses of several student layers in one computation; equal to
        :meth:`forward` on each layer.

        Args:
            student (Tensor): ``(L, M, 4, N + 1)`` (or ``(L, M, 4 * (N + 1))``)
                edge logits of every query of the ``L`` student layers.
            teacher (Tensor): the teacher's logits ``(M, ...)``, shared by
                all layers (detached here).
            weight (Tensor): per-query weights :math:`\\alpha` ``(L, M)``.
            matched (Tensor): bool ``(L, M)``.
            count_weights (tuple, optional): :math:`(\\sqrt{K_m},
                \\sqrt{K_u})`, each a float or a tensor ``(L,)`` (or
                scalar), instead of counting ``matched`` per layer.

        Returns:
            Tensor: ``(L,)`` losses, multiplied by ``loss_weight``.
        """
        num_layers, num_q = matched.shape
        if num_q == 0:
            return (student.sum() * 0.0).expand(num_layers)
        T = self.temperature
        s = student.float().reshape(num_layers, num_q, 4, -1) / T
        t = teacher.detach().float().reshape(1, num_q, 4, -1) / T
        kl = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1),
                      reduction='none', log_target=True).sum(-1)  # (L, M, 4)
        loss = weight.detach().float()[..., None] * (T**2) * kl
        matched = matched.bool()
        k_m = matched.sum(-1).float()
        zero = loss.new_zeros(())
        # means over the matched / unmatched (query, edge) terms; 0 if none
        sum_m = torch.where(matched[..., None], loss, zero).sum((1, 2))
        sum_u = torch.where(matched[..., None], zero, loss).sum((1, 2))
        mean_m = sum_m / (4 * k_m).clamp(min=1)
        mean_u = sum_u / (4 * (num_q - k_m)).clamp(min=1)
        if count_weights is None:
            count_weights = self.count_weights_layers(matched)
        sq_m, sq_u = (torch.as_tensor(c, dtype=loss.dtype, device=loss.device)
                      for c in count_weights)
        denom = sq_m + sq_u
        out = (mean_m * sq_m + mean_u * sq_u) / denom.clamp(min=1e-12)
        return self.loss_weight * torch.where(denom > 0, out, zero)

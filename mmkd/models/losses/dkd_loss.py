"""DKD: decoupled knowledge distillation."""
from typing import Any, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from ._labels import class_labels


@MODELS.register_module()
class DKDLoss(nn.Module):
    """Decoupled knowledge distillation (Zhao et al., CVPR 2022).

    With :math:`p = \\mathrm{softmax}(z / \\tau)` over the C classes, target
    class t, the binary distribution :math:`b = [p_t, 1 - p_t]` and the
    distribution among the non-target classes
    :math:`\\hat p_i = p_i / (1 - p_t) = \\mathrm{softmax}_{i \\ne t}(z_i /
    \\tau)`:

    .. math::
        TCKD = KL(b^T \\| b^S), \\qquad NCKD = KL(\\hat p^T \\| \\hat p^S),

        L = \\tau^2 \\, (\\alpha \\, TCKD + \\beta \\, NCKD)

    (classical KD is :math:`TCKD + (1 - p^T_t) NCKD`, the paper's eq. 1).
    Computed in log space: :math:`\\log(1 - p_t)` is the logsumexp of the
    non-target logits minus that of all, and NCKD is the KL over the C - 1
    non-target classes (no masking constant).

    The target classes come from the batch's data samples (mmpretrain's
    ``gt_label``), which :class:`DistillModel` passes, or ``gt_labels``.

    Reference: `Decoupled Knowledge Distillation
    <https://arxiv.org/abs/2203.08679>`_.

    Args:
        tau (float): Temperature :math:`\\tau`. Defaults to 1.0.
        alpha (float): Weight :math:`\\alpha` of TCKD. Defaults to 1.0.
        beta (float): Weight :math:`\\beta` of NCKD. Defaults to 1.0.
        reduction (str): ``'batchmean'`` (the paper's: per-sample
            divergences averaged over the batch) or ``'sum'`` (summed over
            the batch). MMRazor's ``DKDLoss`` passes the deprecated
            ``size_average=False`` to ``F.kl_div``, which makes every
            reduction but ``'batchmean'`` a sum over the batch: an MMRazor
            config with ``'mean'``, ``'sum'`` or ``'none'`` equals
            ``reduction='sum'`` here. Defaults to ``'batchmean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    compares_distributions = True

    def __init__(self,
                 tau: float = 1.0,
                 alpha: float = 1.0,
                 beta: float = 1.0,
                 reduction: str = 'batchmean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        if reduction not in ('batchmean', 'sum'):
            raise ValueError(
                "DKDLoss: reduction must be 'batchmean' or 'sum', got "
                f"{reduction!r} (MMRazor's DKDLoss computes 'sum' for "
                "'mean', 'sum' and 'none').")
        self.tau = tau
        self.alpha = alpha
        self.beta = beta
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                student: Tensor,
                teacher: Tensor,
                data_samples: Optional[Sequence[Any]] = None,
                gt_labels: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student logits (N, C), C >= 2.
            teacher (Tensor): Teacher logits (N, C).
            data_samples (list, optional): The batch's data samples, one
                ``gt_label`` (class index) each.
            gt_labels (Tensor, optional): (N, ) class indices; wins over
                ``data_samples``.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape or student.dim() != 2 \
                or student.shape[1] < 2:
            raise ValueError('DKDLoss expects logits of equal shape (N, C), '
                             f'C >= 2, got student {tuple(student.shape)} '
                             f'and teacher {tuple(teacher.shape)}')
        n, c = student.shape
        labels = class_labels(data_samples, gt_labels, n, 'DKDLoss',
                              student.device)
        target = F.one_hot(labels, c).bool()
        tckd, nckd = [], []
        for z in (student.float() / self.tau, teacher.float() / self.tau):
            log_z = torch.logsumexp(z, dim=1)
            others = z[~target].view(n, c - 1)
            log_p_t = z[target] - log_z
            log_not_t = torch.logsumexp(others, dim=1) - log_z
            tckd.append(torch.stack([log_p_t, log_not_t], dim=1))
            nckd.append(F.log_softmax(others, dim=1))
        tckd_kl = F.kl_div(tckd[0], tckd[1], reduction='sum',
                           log_target=True)
        nckd_kl = F.kl_div(nckd[0], nckd[1], reduction='sum',
                           log_target=True)
        loss = self.tau**2 * (self.alpha * tckd_kl + self.beta * nckd_kl)
        if self.reduction == 'batchmean':
            loss = loss / n
        return self.loss_weight * loss

"""NKD: normalized knowledge distillation."""
from typing import Any, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from ._labels import class_labels


@MODELS.register_module()
class NKDLoss(nn.Module):
    """Normalized KD (Yang et al., ICCV 2023).

    Classical KD splits into a target term and a non-target term weighted
    by :math:`1 - T_t`; NKD drops that weight by normalising the
    non-target distributions. With :math:`S = \\mathrm{softmax}(z^s)`,
    :math:`T = \\mathrm{softmax}(z^t)`, the target class t and
    :math:`\\hat S^\\lambda_i = \\mathrm{softmax}_{i \\ne t}(z^s_i /
    \\lambda)` (the non-target classes at temperature :math:`\\lambda`,
    likewise :math:`\\hat T^\\lambda`):

    .. math::
        L_{NKD} = -\\frac{1}{N} \\sum_n \\Big( T_t \\log S_t
        + \\gamma \\lambda^2 \\sum_{i \\ne t} \\hat T^\\lambda_i
        \\log \\hat S^\\lambda_i \\Big)

    as the authors' code (yzd-v/cls_KD ``mmcls/models/dis_losses/nkd.py``)
    computes it: the target term at temperature 1 with the teacher's target
    probability as its weight (no gradient), both terms cross-entropies (not
    KL divergences: the value exceeds the KL form by the teacher's
    entropies, the gradient is the same), averaged over the batch.

    The target classes come from the batch's data samples (mmpretrain's
    ``gt_label``), which :class:`DistillModel` passes, or ``gt_labels``
    (hard labels only; the authors' code takes the arg-max of mixed
    labels).

    Reference: `From Knowledge Distillation to Self-Knowledge Distillation:
    A Unified Approach with Normalized Loss and Customized Soft Labels
    <https://arxiv.org/abs/2303.13005>`_.

    Args:
        temp (float): Temperature :math:`\\lambda` of the non-target term.
            Defaults to 1.0 (the authors' ImageNet ResNet-34 -> ResNet-18
            config).
        gamma (float): Weight :math:`\\gamma` of the non-target term.
            Defaults to 1.5 (same config).
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    compares_distributions = True

    def __init__(self,
                 temp: float = 1.0,
                 gamma: float = 1.5,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temp <= 0:
            raise ValueError(f'temp must be positive, got {temp}')
        self.temp = temp
        self.gamma = gamma
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
            raise ValueError('NKDLoss expects logits of equal shape (N, C), '
                             f'C >= 2, got student {tuple(student.shape)} '
                             f'and teacher {tuple(teacher.shape)}')
        n, c = student.shape
        labels = class_labels(data_samples, gt_labels, n, 'NKDLoss',
                              student.device)[:, None]
        student, teacher = student.float(), teacher.float().detach()
        s_t = F.log_softmax(student, dim=1).gather(1, labels)
        t_t = F.softmax(teacher, dim=1).gather(1, labels)
        loss_t = -(t_t * s_t).mean()

        others = torch.ones_like(student).scatter_(1, labels, 0).bool()
        s_non = F.log_softmax(student[others].view(n, c - 1) / self.temp, 1)
        t_non = F.softmax(teacher[others].view(n, c - 1) / self.temp, 1)
        loss_non = -self.gamma * self.temp**2 * (t_non * s_non).sum(1).mean()
        return self.loss_weight * (loss_t + loss_non)

"""WSLD: weighted soft label distillation."""
from typing import Any, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from ._labels import class_labels


@MODELS.register_module()
class WSLD(nn.Module):
    """Weighted soft label distillation (Zhou et al., ICLR 2021).

    Each sample's soft-label cross-entropy is weighted by how much worse the
    student fits the ground truth y than the teacher does:

    .. math::
        w_i = 1 - \\exp\\Big(-\\max\\Big(0, \\frac{CE(y_i, z^s_i)}
        {CE(y_i, z^t_i) + 10^{-7}}\\Big)\\Big),

        L = \\frac{\\tau^2}{N} \\sum_i w_i \\Big(-\\sum_c p^t_{i,c}
        \\log p^s_{i,c}\\Big), \\quad p = \\mathrm{softmax}(z / \\tau)

    The hard-label cross-entropies use the logits at temperature 1 and carry
    no gradient (:math:`w` is a weight, not a loss term). The soft term is
    the cross-entropy, as in the authors' code, so the value exceeds
    :math:`w \\cdot KL` by the teacher's weighted entropy; the gradient is
    the same.

    The ground-truth classes come from the batch's data samples
    (mmpretrain's ``gt_label``), which :class:`DistillModel` passes, or
    ``gt_labels``.

    Reference: `Rethinking Soft Labels for Knowledge Distillation: A
    Bias-Variance Tradeoff Perspective <https://arxiv.org/abs/2102.00650>`_.

    Args:
        tau (float): Temperature :math:`\\tau`. Defaults to 1.0.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        num_classes (int, optional): Number of classes; checked against the
            logits when given (MMRazor's argument; the logits tell).
            Defaults to None.
    """

    compares_distributions = True

    def __init__(self,
                 tau: float = 1.0,
                 loss_weight: float = 1.0,
                 num_classes: Optional[int] = None) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.tau = tau
        self.loss_weight = loss_weight
        self.num_classes = num_classes

    def forward(self,
                student: Tensor,
                teacher: Tensor,
                data_samples: Optional[Sequence[Any]] = None,
                gt_labels: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student logits (N, C).
            teacher (Tensor): Teacher logits (N, C).
            data_samples (list, optional): The batch's data samples, one
                ``gt_label`` (class index) each.
            gt_labels (Tensor, optional): (N, ) class indices; wins over
                ``data_samples``.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape or student.dim() != 2:
            raise ValueError('WSLD expects logits of equal shape (N, C), got '
                             f'student {tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        n, c = student.shape
        if self.num_classes is not None and self.num_classes != c:
            raise ValueError(f'WSLD: num_classes={self.num_classes} but the '
                             f'logits have {c} classes')
        labels = class_labels(data_samples, gt_labels, n, 'WSLD',
                              student.device)
        student, teacher = student.float(), teacher.float()
        p_t = F.softmax(teacher / self.tau, dim=1)
        soft_ce = -(p_t * F.log_softmax(student / self.tau, dim=1)).sum(1)
        with torch.no_grad():
            ce_s = F.cross_entropy(student, labels, reduction='none')
            ce_t = F.cross_entropy(teacher, labels, reduction='none')
            weight = 1 - torch.exp(-(ce_s / (ce_t + 1e-7)).clamp(min=0))
        loss = self.tau**2 * (weight * soft_ce).mean()
        return self.loss_weight * loss

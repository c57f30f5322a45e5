"""Hinton logit distillation."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class KDLoss(nn.Module):
    """Knowledge distillation on logits (Hinton et al., 2015).

    .. math::
        L = \\tau^2 \\, KL\\big(\\mathrm{softmax}(z_t / \\tau) \\,\\|\\,
        \\mathrm{softmax}(z_s / \\tau)\\big)

    The class dimension is dim 1. For N-D logits such as (N, C, H, W) every
    position is a distribution; the KL (summed over classes) is averaged over
    the batch and the positions.

    Reference: `Distilling the Knowledge in a Neural Network
    <https://arxiv.org/abs/1503.02531>`_.

    Args:
        tau (float): Temperature :math:`\\tau`. Defaults to 1.0.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    # Compares distributions over classes or bins: a learned connector
    # between the two models' logits is refused (DistillModel).
    compares_distributions = True

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.tau = tau
        self.loss_weight = loss_weight

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student logits, (N, C) or (N, C, ...).
            teacher (Tensor): Teacher logits of the same shape.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape or student.dim() < 2:
            raise ValueError('KDLoss expects logits of equal shape '
                             f'(N, C, ...), got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        num_classes = student.shape[1]
        # (N, C, ...) -> (N * positions, C)
        s = student.float().movedim(1, -1).reshape(-1, num_classes) / self.tau
        t = teacher.float().movedim(1, -1).reshape(-1, num_classes) / self.tau
        kl = F.kl_div(
            F.log_softmax(s, dim=1),
            F.log_softmax(t, dim=1),
            reduction='none',
            log_target=True).sum(dim=1)
        return self.loss_weight * self.tau**2 * kl.mean()

"""FitNet-style feature imitation."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class MSELoss(nn.Module):
    """Mean squared error between student and teacher features (FitNet).

    .. math::
        L_{mean} = \\frac{1}{|F|} \\sum (F_s - F_t)^2, \\qquad
        L_{sum} = \\frac{1}{N} \\sum (F_s - F_t)^2

    Use a connector to align the student's channels first.

    Reference: `FitNets: Hints for Thin Deep Nets
    <https://arxiv.org/abs/1412.6550>`_.

    Args:
        reduction (str): ``'mean'`` averages over all elements, ``'sum'``
            sums over all elements and divides by the batch size N.
            Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('mean', 'sum'):
            raise ValueError("reduction must be 'mean' or 'sum', "
                             f'got {reduction!r}')
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student features (N, ...).
            teacher (Tensor): Teacher features of the same shape.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape:
            raise ValueError('MSELoss expects equal shapes, got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        loss = F.mse_loss(student.float(), teacher.float(), reduction='sum')
        if self.reduction == 'mean':
            loss = loss / student.numel()
        else:
            loss = loss / student.shape[0]
        return self.loss_weight * loss

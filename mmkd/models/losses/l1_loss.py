"""L1 feature imitation."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class L1Loss(nn.Module):
    """Absolute difference between student and teacher features.

    .. math::
        L_{mean} = \\frac{1}{|F|} \\sum |F_s - F_t|, \\quad
        L_{sum} = \\sum |F_s - F_t|, \\quad
        L_{batchmean} = \\frac{1}{N} \\sum |F_s - F_t|

    ``'none'`` returns the elementwise tensor. ``size_average`` and
    ``reduce`` are torch's deprecated switches, kept for MMRazor configs:
    when either is given it decides the reduction as in
    ``F.l1_loss`` (False/False: ``'none'``, size_average=False: ``'sum'``,
    otherwise ``'mean'``). ``'batchmean'`` is mmkd's addition (MMRazor
    accepts the name, but ``F.l1_loss`` rejects it).

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        size_average (bool, optional): Deprecated torch switch. Defaults to
            None.
        reduce (bool, optional): Deprecated torch switch. Defaults to None.
        reduction (str): ``'mean'``, ``'sum'``, ``'batchmean'`` or
            ``'none'``. Defaults to ``'mean'``.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 size_average: Optional[bool] = None,
                 reduce: Optional[bool] = None,
                 reduction: str = 'mean') -> None:
        super().__init__()
        if reduction not in ('none', 'batchmean', 'sum', 'mean'):
            raise ValueError("L1Loss: reduction must be 'none', 'batchmean', "
                             f"'sum' or 'mean', got {reduction!r}")
        if size_average is not None or reduce is not None:
            if reduce is False:
                reduction = 'none'
            elif size_average is False:
                reduction = 'sum'
            else:
                reduction = 'mean'
        self.loss_weight = loss_weight
        self.size_average = size_average
        self.reduce = reduce
        self.reduction = reduction

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student features (N, ...).
            teacher (Tensor): Teacher features of the same shape.

        Returns:
            Tensor: The loss times ``loss_weight`` (scalar unless
            ``reduction='none'``).
        """
        if student.shape != teacher.shape:
            raise ValueError('L1Loss expects equal shapes, got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        if self.reduction == 'batchmean':
            loss = F.l1_loss(student.float(), teacher.float(),
                             reduction='sum') / student.shape[0]
        else:
            loss = F.l1_loss(student.float(), teacher.float(),
                             reduction=self.reduction)
        return self.loss_weight * loss

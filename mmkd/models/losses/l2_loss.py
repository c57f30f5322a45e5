"""L2 feature imitation with MMRazor's normalisation options."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class L2Loss(nn.Module):
    """Squared L2 distance between student and teacher features.

    With ``normalize`` each sample's flattened feature is scaled to L2 norm
    ``mult``: :math:`\\tilde F = m F / \\|F\\|_2`. Then, with
    :math:`S = \\sum (\\tilde F_s - \\tilde F_t)^2`,

    .. math::
        L = \\sqrt{S} \\ (\\text{dist}), \\quad
        L = S / |F| \\ (\\text{div\\_element}), \\quad
        L = S / N \\ (\\text{otherwise})

    FitNet's hint loss is ``normalize=False``; the default
    (``normalize=True``, sum over elements / N) is MMRazor's ``L2Loss``.

    Reference: `FitNets: Hints for Thin Deep Nets
    <https://arxiv.org/abs/1412.6550>`_.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        normalize (bool): L2-normalise each sample's feature. Defaults to
            True.
        mult (float): Norm :math:`m` after normalisation. Defaults to 1.0.
        div_element (bool): Divide by the number of elements instead of N.
            Defaults to False.
        dist (bool): Return :math:`\\sqrt{S}` (``torch.dist``). Defaults to
            False.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 normalize: bool = True,
                 mult: float = 1.0,
                 div_element: bool = False,
                 dist: bool = False) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.normalize = normalize
        self.mult = mult
        self.div_element = div_element
        self.dist = dist

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student features (N, ...).
            teacher (Tensor): Teacher features of the same shape.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape:
            raise ValueError('L2Loss expects equal shapes, got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        student, teacher = student.float(), teacher.float()
        if self.normalize:
            student = self.mult * F.normalize(student.flatten(1), dim=1)
            teacher = self.mult * F.normalize(teacher.flatten(1), dim=1)
        loss = (student - teacher).pow(2).sum()
        if self.dist:
            loss = loss.sqrt()
        elif self.div_element:
            loss = loss / student.numel()
        else:
            loss = loss / student.shape[0]
        return self.loss_weight * loss

"""DIST: distillation from a stronger teacher (Pearson relations)."""
import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS


def _one_minus_pearson(a: Tensor, b: Tensor, dim: int,
                       eps: float) -> Tensor:
    """Mean over all other positions of 1 - Pearson(a, b) along ``dim``."""
    a = a - a.mean(dim, keepdim=True)
    b = b - b.mean(dim, keepdim=True)
    r = (a * b).sum(dim) / (a.norm(dim=dim) * b.norm(dim=dim) + eps)
    return 1 - r.mean()


@MODELS.register_module()
class DISTLoss(nn.Module):
    """DIST (Huang et al., NeurIPS 2022): match the Pearson correlation of
    the student's and the teacher's class probabilities
    :math:`Y = \\mathrm{softmax}(Z / \\tau)` (B samples x C classes), across
    classes for each sample (inter-class relation) and across the batch for
    each class (intra-class relation):

    .. math::
        L_{inter} = \\frac{1}{B} \\sum_i \\big(1 - \\rho(Y^s_{i,:},
        Y^t_{i,:})\\big), \\quad
        L_{intra} = \\frac{1}{C} \\sum_j \\big(1 - \\rho(Y^s_{:,j},
        Y^t_{:,j})\\big),

        L = \\tau^2 (\\beta L_{inter} + \\gamma L_{intra})

    :math:`\\rho(u, v) = \\frac{(u - \\bar u) \\cdot (v - \\bar v)}
    {\\|u - \\bar u\\| \\, \\|v - \\bar v\\| + \\epsilon}`. For (N, C, ...)
    logits every position is treated like a sample of its own in
    :math:`L_{inter}` and :math:`L_{intra}` correlates over N per class and
    position (as in MMRazor).

    Reference: `Knowledge Distillation from A Stronger Teacher
    <https://arxiv.org/abs/2205.10536>`_.

    Args:
        inter_loss_weight (float): :math:`\\beta`. Defaults to 1.0.
        intra_loss_weight (float): :math:`\\gamma`. Defaults to 1.0.
        tau (float): Temperature :math:`\\tau`. Defaults to 1.0.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        teacher_detach (bool): Detach the teacher logits. Defaults to True.
        eps (float): :math:`\\epsilon`. Defaults to 1e-8.
    """

    compares_distributions = True

    def __init__(self,
                 inter_loss_weight: float = 1.0,
                 intra_loss_weight: float = 1.0,
                 tau: float = 1.0,
                 loss_weight: float = 1.0,
                 teacher_detach: bool = True,
                 eps: float = 1e-8) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.inter_loss_weight = inter_loss_weight
        self.intra_loss_weight = intra_loss_weight
        self.tau = tau
        self.loss_weight = loss_weight
        self.teacher_detach = teacher_detach
        self.eps = eps

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student logits (N, C) or (N, C, ...).
            teacher (Tensor): Teacher logits of the same shape.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape or student.dim() < 2:
            raise ValueError('DISTLoss expects logits of equal shape '
                             f'(N, C, ...), got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        if self.teacher_detach:
            teacher = teacher.detach()
        y_s = (student.float() / self.tau).softmax(dim=1)
        y_t = (teacher.float() / self.tau).softmax(dim=1)
        inter = _one_minus_pearson(y_s, y_t, 1, self.eps)
        intra = _one_minus_pearson(y_s, y_t, 0, self.eps)
        loss = self.tau**2 * (self.inter_loss_weight * inter +
                              self.intra_loss_weight * intra)
        return self.loss_weight * loss

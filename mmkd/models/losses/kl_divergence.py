"""KL divergence on logits with MMRazor's ``reduction`` semantics."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS

_REDUCTIONS = ('none', 'batchmean', 'sum', 'mean')


@MODELS.register_module()
class KLDivergence(nn.Module):
    """KL divergence between temperature-softened teacher and student
    distributions over dim 1 (the classes).

    With :math:`p^t = \\mathrm{softmax}(z_t / \\tau)` and
    :math:`p^s = \\mathrm{softmax}(z_s / \\tau)` the pointwise terms are
    :math:`\\ell = \\tau^2 \\, p^t (\\log p^t - \\log p^s)` and

    .. math::
        L_{batchmean} = \\frac{1}{N} \\sum \\ell, \\quad
        L_{sum} = \\sum \\ell, \\quad
        L_{mean} = \\frac{1}{|z|} \\sum \\ell, \\quad L_{none} = \\ell

    ``'batchmean'`` on (N, C) logits is Hinton's KD loss. Note ``'mean'``
    divides by every element, the classes included (C times smaller than
    ``'batchmean'`` on (N, C)), and on (N, C, H, W) ``'batchmean'`` divides
    only by N: this is MMRazor's ``KLDivergence`` (``F.kl_div``) exactly, so
    its configs keep their loss scale. :class:`KDLoss` averages over the
    positions of dense logits instead.

    Reference: `Distilling the Knowledge in a Neural Network
    <https://arxiv.org/abs/1503.02531>`_.

    Args:
        tau (float): Temperature :math:`\\tau`. Defaults to 1.0.
        reduction (str): ``'none'``, ``'batchmean'``, ``'sum'`` or
            ``'mean'`` (see above). Defaults to ``'batchmean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        teacher_detach (bool): Detach the teacher logits. mmkd's teacher
            runs without gradients anyway; kept for MMRazor configs.
            Defaults to True.
    """

    compares_distributions = True

    def __init__(self,
                 tau: float = 1.0,
                 reduction: str = 'batchmean',
                 loss_weight: float = 1.0,
                 teacher_detach: bool = True) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        if reduction not in _REDUCTIONS:
            raise ValueError(f'KLDivergence: reduction must be one of '
                             f'{_REDUCTIONS}, got {reduction!r}')
        self.tau = tau
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.teacher_detach = teacher_detach

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student logits (N, C) or (N, C, ...).
            teacher (Tensor): Teacher logits of the same shape.

        Returns:
            Tensor: The loss times ``loss_weight`` (a scalar unless
            ``reduction='none'``).
        """
        if student.shape != teacher.shape or student.dim() < 2:
            raise ValueError('KLDivergence expects logits of equal shape '
                             f'(N, C, ...), got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        if self.teacher_detach:
            teacher = teacher.detach()
        log_p_s = F.log_softmax(student.float() / self.tau, dim=1)
        log_p_t = F.log_softmax(teacher.float() / self.tau, dim=1)
        loss = F.kl_div(log_p_s, log_p_t, reduction=self.reduction,
                        log_target=True)
        return self.loss_weight * self.tau**2 * loss

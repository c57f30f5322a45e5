"""AB: distillation of activation boundaries."""
import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class ABLoss(nn.Module):
    """Activation-boundary distillation (Heo et al., AAAI 2019).

    The student learns on which side of 0 each teacher neuron (pre-ReLU
    response :math:`T`) lies, with the paper's piecewise-differentiable
    hinge of margin :math:`\\mu` (eq. 5, squared):

    .. math::
        L = \\frac{3}{1000 \\, N} \\sum \\Big( (S + \\mu)^2 \\,
        \\mathbb{1}[S > -\\mu \\land T \\le 0] + (S - \\mu)^2 \\,
        \\mathbb{1}[S \\le \\mu \\land T > 0] \\Big)

    The 3 / 1000 scale is the authors' (and MMRazor's). The student feature
    usually goes through a connector to the teacher's channels (the paper's
    r(.), MMRazor's ``ConvModuleConnector``). MMRazor uses it to initialise
    the student in a first stage (``abloss_pretrain_...``) before logit KD;
    in mmkd that is two trainings: this loss with ``student_gt_loss=False``,
    then e.g. :class:`KLDivergence` with ``student_init``.

    Reference: `Knowledge Transfer via Distillation of Activation Boundaries
    Formed by Hidden Neurons <https://arxiv.org/abs/1811.03233>`_.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        margin (float): :math:`\\mu`. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0, margin: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.margin = margin

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student pre-activations (N, ...).
            teacher (Tensor): Teacher pre-activations of the same shape.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape:
            raise ValueError('ABLoss expects equal shapes, got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        s, t, mu = student.float(), teacher.detach().float(), self.margin
        off = (s > -mu) & (t <= 0)
        on = (s <= mu) & (t > 0)
        loss = ((s + mu).pow(2) * off + (s - mu).pow(2) * on).sum()
        return self.loss_weight * loss * 3 / 1000 / student.shape[0]

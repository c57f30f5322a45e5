"""CWD: channel-wise distillation."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class ChannelWiseDivergence(nn.Module):
    """Channel-wise distillation of dense predictions or features.

    Each channel is turned into a distribution over spatial positions,
    :math:`\\phi(y_c) = \\mathrm{softmax}(y_c / \\tau)`, and

    .. math::
        L = \\frac{\\tau^2}{N C} \\sum_{n, c}
        KL\\big(\\phi(y^t_{n,c}) \\,\\|\\, \\phi(y^s_{n,c})\\big)

    Reference: `Channel-wise Knowledge Distillation for Dense Prediction
    <https://arxiv.org/abs/2011.13256>`_.

    Args:
        tau (float): Temperature :math:`\\tau`. Defaults to 1.0.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        on_logits (bool): The maps are class logits (segmentation, dense
            classification), not features: the two models must have the same
            classes, and ``connector='auto'`` refuses to map one's channels
            to the other's. Defaults to False.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0,
                 on_logits: bool = False) -> None:
        super().__init__()
        self.compares_distributions = on_logits
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.tau = tau
        self.loss_weight = loss_weight

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student maps (N, C, H, W) (or (N, C, ...)).
            teacher (Tensor): Teacher maps of the same shape.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape or student.dim() < 3:
            raise ValueError('ChannelWiseDivergence expects maps of equal '
                             'shape (N, C, H, W), got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        n, c = student.shape[:2]
        s = student.float().reshape(n * c, -1) / self.tau
        t = teacher.float().reshape(n * c, -1) / self.tau
        kl = F.kl_div(
            F.log_softmax(s, dim=1),
            F.log_softmax(t, dim=1),
            reduction='sum',
            log_target=True)
        return self.loss_weight * self.tau**2 * kl / (n * c)

"""AT: attention transfer."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class ATLoss(nn.Module):
    """Activation-based attention transfer (Zagoruyko & Komodakis, ICLR
    2017).

    The attention map of a feature :math:`A \\in R^{C \\times H \\times W}`
    is :math:`Q = \\mathrm{vec}(\\frac{1}{C} \\sum_c A_c^2)` (the paper's
    :math:`F^2_{mean}`), L2-normalised, and

    .. math::
        L = \\frac{1}{N \\, HW} \\sum_{n} \\Big\\| \\frac{Q^s_n}{\\|Q^s_n\\|_2}
        - \\frac{Q^t_n}{\\|Q^t_n\\|_2} \\Big\\|_2^2

    This is the authors' reference code (and MMRazor's): the squared
    distance averaged over positions, where the paper writes
    :math:`\\frac{\\beta}{2}` times the (unsquared) p-norm; a constant
    factor folds into ``loss_weight``. The channel counts may differ
    (no connector is built by ``connector='auto'``); the wrapper resizes a
    student map of another H, W to the teacher's.

    Reference: `Paying More Attention to Attention
    <https://arxiv.org/abs/1612.03928>`_.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    channel_agnostic = True

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    @staticmethod
    def attention(x: Tensor) -> Tensor:
        """(N, C, ...) features -> (N, positions) L2-normalised maps."""
        return F.normalize(x.float().pow(2).mean(1).flatten(1), dim=1)

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student features (N, C_s, H, W).
            teacher (Tensor): Teacher features (N, C_t, H, W).

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.dim() < 3 or student.shape[0] != teacher.shape[0] \
                or student.shape[2:] != teacher.shape[2:]:
            raise ValueError('ATLoss expects (N, C, H, W) features with equal '
                             f'N, H, W, got student {tuple(student.shape)} '
                             f'and teacher {tuple(teacher.shape)}')
        loss = (self.attention(student) - self.attention(teacher)).pow(2)
        return self.loss_weight * loss.mean()

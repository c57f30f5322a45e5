"""PKD: Pearson-correlation feature distillation."""
from typing import Sequence, Union

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


def _shapes(x: Union[Tensor, Sequence[Tensor]]) -> list:
    if isinstance(x, Tensor):
        return [tuple(x.shape)]
    return [tuple(getattr(t, 'shape', ())) for t in x]


@MODELS.register_module()
class PKDLoss(nn.Module):
    """Feature distillation with the Pearson correlation coefficient.

    Each channel of the student and of the teacher is normalised to zero mean
    and unit variance over (N, H, W); then

    .. math::
        L = \\frac{1}{2} \\mathrm{MSE}(\\hat F_s, \\hat F_t) = 1 - r

    where r is the Pearson correlation, averaged over channels. Tuple/list
    inputs (e.g. FPN levels) are summed over the (student, teacher) pairs.

    Reference: `PKD: General Distillation Framework for Object Detectors via
    Pearson Correlation Coefficient <https://arxiv.org/abs/2207.02039>`_.

    Args:
        resize_stu (bool): When spatial sizes differ, resize the student to
            the teacher's size (bilinear); otherwise resize the teacher to
            the student's. Defaults to True.
        eps (float): Added to the standard deviation. Defaults to 1e-6.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 resize_stu: bool = True,
                 eps: float = 1e-6,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.resize_stu = resize_stu
        self.eps = eps
        self.loss_weight = loss_weight

    def norm(self, feat: Tensor) -> Tensor:
        """Normalise each channel of (N, C, ...) over all other dims."""
        dims = [d for d in range(feat.dim()) if d != 1]
        mean = feat.mean(dim=dims, keepdim=True)
        std = feat.var(dim=dims, unbiased=False, keepdim=True).sqrt()
        return (feat - mean) / (std + self.eps)

    def forward(self, student: Union[Tensor, Sequence[Tensor]],
                teacher: Union[Tensor, Sequence[Tensor]], **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor | Sequence[Tensor]): Student features (N, C, ...).
            teacher (Tensor | Sequence[Tensor]): Teacher features, same
                structure; N and C must match the student's.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if isinstance(student, Tensor) and isinstance(teacher, Tensor):
            student, teacher = (student, ), (teacher, )
        if (isinstance(student, Tensor) or isinstance(teacher, Tensor)
                or len(student) != len(teacher) or len(student) == 0):
            raise ValueError(
                'PKDLoss expects a tensor or equally many (>0) tensors for '
                'student and teacher, got student shapes {} and teacher '
                'shapes {}'.format(_shapes(student), _shapes(teacher)))
        loss = 0.
        for s, t in zip(student, teacher):
            s, t = s.float(), t.float()
            if s.dim() < 3 or s.shape[:2] != t.shape[:2] or s.dim() != t.dim():
                raise ValueError('PKDLoss expects (N, C, ...) features with '
                                 f'equal N and C, got student '
                                 f'{tuple(s.shape)} and teacher '
                                 f'{tuple(t.shape)}')
            if s.shape[2:] != t.shape[2:]:
                if s.dim() != 4:
                    raise ValueError('PKDLoss can resize only 4-D features, '
                                     f'got student {tuple(s.shape)} and '
                                     f'teacher {tuple(t.shape)}')
                if self.resize_stu:
                    s = F.interpolate(s, t.shape[2:], mode='bilinear')
                else:
                    t = F.interpolate(t, s.shape[2:], mode='bilinear')
            loss = loss + F.mse_loss(self.norm(s), self.norm(t)) / 2
        return self.loss_weight * loss

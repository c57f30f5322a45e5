"""OFD: a comprehensive overhaul of feature distillation."""
import math
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS


def bn_margin(bn: nn.Module) -> Tensor:
    """The per-channel margin of OFD's teacher transform, (1, C, 1, 1).

    The teacher's pre-ReLU response of channel c is modelled as
    :math:`x \\sim N(\\mu_c, \\sigma_c^2)` with :math:`\\mu_c` the BN bias
    and :math:`\\sigma_c = |\\gamma_c|` its weight; the margin is the mean
    of the negative part,

    .. math::
        m_c = E[x \\mid x < 0] = \\mu_c - \\sigma_c
        \\frac{\\phi(\\mu_c / \\sigma_c)}{\\Phi(-\\mu_c / \\sigma_c)},

    or :math:`-3 \\sigma_c` where :math:`\\Phi(-\\mu_c/\\sigma_c) \\le
    0.001` (as the authors' code).
    """
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or not bn.affine:
        raise ValueError('OFDLoss: the teacher module it records must be an '
                         f'affine BatchNorm layer, got {type(bn).__name__}')
    margins = []
    for s, m in zip(bn.weight.detach().abs().tolist(),
                    bn.bias.detach().tolist()):
        cdf = 0.5 * math.erfc(m / s / math.sqrt(2)) if s > 0 else float(m < 0)
        if cdf > 0.001:
            pdf = math.exp(-(m / s)**2 / 2) / math.sqrt(2 * math.pi)
            margins.append(m - s * pdf / cdf)
        else:
            margins.append(-3 * s)
    return torch.tensor(margins).view(1, -1, 1, 1)


@MODELS.register_module()
class OFDLoss(nn.Module):
    """Overhaul of feature distillation (Heo et al., ICCV 2019).

    Distils the pre-ReLU features (the output of a BatchNorm layer). The
    teacher feature goes through the margin ReLU
    :math:`\\sigma_m(T) = \\max(T, m)` (m from the teacher BN, see
    :func:`bn_margin`) and the partial L2 distance ignores the positions
    where the student is already below a negative teacher response:

    .. math::
        L = \\frac{1}{N \\cdot k} \\sum_{n,c,h,w} \\mathbb{1}[S > \\hat T \\lor
        \\hat T > 0] \\, (S - \\hat T)^2, \\quad \\hat T = \\sigma_m(T)

    with k = ``mul_factor`` (1000, the authors' normalisation). The student
    feature usually goes through a connector (conv + BN, e.g.
    ``ConvModuleConnector(norm_cfg=dict(type='BN'), act_cfg=None)``).

    MMRazor applies the margin in an ``OFDTeacherConnector`` that its
    ``OFDDistiller`` initialises from the recorded teacher BN; mmkd has no
    teacher-side connectors, so the loss does it: :class:`DistillModel`
    calls :meth:`init_from_teacher` with the teacher module of the
    ``teacher`` spec when it builds the loss.

    Reference: `A Comprehensive Overhaul of Feature Distillation
    <https://arxiv.org/abs/1904.01866>`_.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        mul_factor (float): k. Defaults to 1000.
        teacher_margin (bool): Apply the margin ReLU to the teacher feature
            (MMRazor's ``OFDTeacherConnector``); False compares the raw
            teacher feature. Defaults to True.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 mul_factor: float = 1000.,
                 teacher_margin: bool = True) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.mul_factor = mul_factor
        self.teacher_margin = teacher_margin
        self.margin: Optional[Tensor]
        self.register_buffer('margin', None)

    def init_from_teacher(self, module: nn.Module) -> None:
        """Set the margin from the recorded teacher BatchNorm ``module``."""
        if self.teacher_margin:
            device = module.weight.device
            self.margin = bn_margin(module).to(device)

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student features (N, C, H, W).
            teacher (Tensor): Teacher BN outputs of the same shape.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape or student.dim() != 4:
            raise ValueError('OFDLoss expects (N, C, H, W) features of equal '
                             f'shape, got student {tuple(student.shape)} and '
                             f'teacher {tuple(teacher.shape)}')
        student, teacher = student.float(), teacher.detach().float()
        if self.teacher_margin:
            if self.margin is None:
                raise RuntimeError(
                    'OFDLoss: the margin is not set; DistillModel sets it '
                    'from the teacher BN (or call init_from_teacher, or use '
                    'teacher_margin=False).')
            if self.margin.shape[1] != teacher.shape[1]:
                raise ValueError(f'OFDLoss: margin for '
                                 f'{self.margin.shape[1]} channels, teacher '
                                 f'has {teacher.shape[1]}')
            teacher = torch.max(teacher, self.margin.to(teacher))
        mask = (student > teacher) | (teacher > 0)
        loss = ((student - teacher).pow(2) * mask).sum()
        return self.loss_weight * loss / student.shape[0] / self.mul_factor

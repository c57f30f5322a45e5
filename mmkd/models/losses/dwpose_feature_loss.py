"""DWPose stage-1 feature distillation loss."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class DWPoseFeatureLoss(nn.Module):
    """Feature imitation loss of DWPose (stage 1).

    A 1x1 convolution ``align`` maps the student's channels to the teacher's
    (none when they are equal), then

    .. math::

        L = \\alpha \\cdot \\frac{1}{N} \\sum_{n,c,h,w}
            \\big(\\mathrm{align}(F^s) - F^t\\big)^2
            \\cdot \\mathrm{loss\\_weight}

    with ``N`` the batch size and ``alpha = 7e-5`` (the paper's
    ``5e-5 / (C H W)`` mean is the same loss with the constant folded in).
    Numerically identical to mmpose 1.3.2's ``FeaLoss``; the ``align`` conv
    has the same default (PyTorch) initialisation and is trained with the
    student.

    Reference: Yang et al., "Effective Whole-body Pose Estimation with
    Two-stages Distillation" (DWPose), ICCVW 2023, arXiv:2307.15880;
    https://github.com/IDEA-Research/DWPose

    Args:
        student_channels (int, optional): Channels of the student feature.
            Filled in by the distillation wrapper from a shape probe when
            left out.
        teacher_channels (int, optional): Channels of the teacher feature.
        alpha (float): The DWPose feature weight. Defaults to 7e-5.
        loss_weight (float): Extra multiplier. Defaults to 1.0.
    """

    def __init__(self,
                 student_channels: Optional[int] = None,
                 teacher_channels: Optional[int] = None,
                 alpha: float = 7e-5,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.loss_weight = loss_weight
        if (student_channels is not None and teacher_channels is not None
                and student_channels != teacher_channels):
            self.align = nn.Conv2d(
                student_channels, teacher_channels, kernel_size=1, stride=1,
                padding=0)
        else:
            self.align = None

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Args:
            student (Tensor): (N, C_s, H, W) student feature.
            teacher (Tensor): (N, C_t, H, W) teacher feature.

        Returns:
            Tensor: the scalar loss.
        """
        if self.align is not None:
            student = self.align(student.float())
        student = student.float()
        teacher = teacher.detach().float()
        if student.shape != teacher.shape:
            raise ValueError(
                f'DWPoseFeatureLoss: aligned student shape '
                f'{tuple(student.shape)} != teacher shape '
                f'{tuple(teacher.shape)}; set student_channels/'
                'teacher_channels or record features of the same size.')
        n = teacher.shape[0]
        loss = (student - teacher).pow(2).sum() / n * self.alpha
        return loss * self.loss_weight

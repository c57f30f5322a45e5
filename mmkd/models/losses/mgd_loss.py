"""MGD: masked generative distillation."""
import torch
import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class MGDLoss(nn.Module):
    """Masked generative distillation.

    The student feature is aligned to the teacher's channels (1x1 conv when
    they differ), random spatial positions are masked with ratio
    :math:`\\lambda`, and a generator :math:`G` (conv3x3-ReLU-conv3x3)
    reconstructs the teacher feature:

    .. math::
        L = \\alpha \\frac{1}{N} \\sum_{n,c,h,w}
        \\big(F^t - G(M \\odot f_{align}(F^s))\\big)^2

    The mask is drawn with torch's RNG (``torch.rand``), so
    ``torch.manual_seed`` makes it reproducible.

    Reference: `Masked Generative Distillation
    <https://arxiv.org/abs/2205.01529>`_.

    Args:
        student_channels (int): Channels of the student feature.
        teacher_channels (int): Channels of the teacher feature.
        alpha_mgd (float): :math:`\\alpha`. Defaults to 2e-5.
        lambda_mgd (float): Masked ratio :math:`\\lambda`. Defaults to 0.65.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 student_channels: int,
                 teacher_channels: int,
                 alpha_mgd: float = 2e-5,
                 lambda_mgd: float = 0.65,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.alpha_mgd = alpha_mgd
        self.lambda_mgd = lambda_mgd
        self.loss_weight = loss_weight
        self.align = nn.Conv2d(student_channels, teacher_channels, 1) \
            if student_channels != teacher_channels else None
        self.generation = nn.Sequential(
            nn.Conv2d(teacher_channels, teacher_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(teacher_channels, teacher_channels, 3, padding=1))

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student feature (N, C_s, H, W).
            teacher (Tensor): Teacher feature (N, C_t, H, W).

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if (student.dim() != 4 or teacher.dim() != 4
                or student.shape[0] != teacher.shape[0]
                or student.shape[2:] != teacher.shape[2:]
                or student.shape[1] != self.student_channels
                or teacher.shape[1] != self.teacher_channels):
            raise ValueError(
                'MGDLoss expects student (N, {}, H, W) and teacher '
                '(N, {}, H, W), got student {} and teacher {}'.format(
                    self.student_channels, self.teacher_channels,
                    tuple(student.shape), tuple(teacher.shape)))
        with torch.autocast(student.device.type, enabled=False):
            s, t = student.float(), teacher.float()
            if self.align is not None:
                s = self.align(s)
            n, _, h, w = t.shape
            # mask a position when rand > 1 - lambda (official MGD)
            mask = torch.rand(n, 1, h, w, device=s.device)
            keep = mask <= 1 - self.lambda_mgd
            new_fea = self.generation(s * keep)
            loss = (new_fea - t).pow(2).sum() / n
        return self.loss_weight * self.alpha_mgd * loss

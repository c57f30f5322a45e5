"""DWPose logit distillation loss on SimCC (x, y) classification logits."""
from typing import Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class SimCCLogitLoss(nn.Module):
    """Logit distillation of DWPose on SimCC coordinate classification.

    For each axis ``a`` in (x, y) with student/teacher logits of shape
    (N, K, W_a):

    .. math::

        L_a = \\frac{1}{N}\\sum_{n}\\sum_{k}\\sum_{w}
              p^t_{nkw}\\,\\big(\\log p^t_{nkw} - \\log p^s_{nkw}\\big),\\quad
        p = \\mathrm{softmax}(\\beta z)

        L = \\mathrm{loss\\_weight} \\cdot \\frac{L_x + L_y}{K}

    i.e. KL(softmax(beta * z_t) || softmax(beta * z_s)) summed over bins and
    keypoints, averaged over the batch. Every keypoint is distilled (visible or
    not) and there is no T^2 factor. ``beta`` must be the head's
    ``KLDiscretLoss.beta`` (10 in all RTMPose configs). DWPose uses
    loss_weight 0.1 in stage 1 and 1 in stage 2. Numerically identical to
    mmpose 1.3.2's ``KDLoss``.

    Reference: Yang et al., "Effective Whole-body Pose Estimation with
    Two-stages Distillation" (DWPose), ICCVW 2023, arXiv:2307.15880.

    Args:
        beta (float): Logit scale of the SimCC softmax. Defaults to 10.
        loss_weight (float): Defaults to 1.0.
    """

    # Compares distributions over classes or bins: a learned connector
    # between the two models' logits is refused (DistillModel).
    compares_distributions = True

    def __init__(self, beta: float = 10.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta = beta
        self.loss_weight = loss_weight

    def _axis(self, s: Tensor, t: Tensor) -> Tensor:
        if s.shape != t.shape:
            raise ValueError(f'SimCCLogitLoss: student logits {tuple(s.shape)}'
                             f' and teacher logits {tuple(t.shape)} differ.')
        n = s.shape[0]
        log_p_s = F.log_softmax(s.float().reshape(-1, s.shape[-1]) * self.beta,
                                dim=1)
        p_t = F.softmax(t.detach().float().reshape(-1, t.shape[-1]) *
                        self.beta, dim=1)
        kl = F.kl_div(log_p_s, p_t, reduction='none').sum(dim=1)
        return kl.reshape(n, -1).sum(dim=1).mean()

    def forward(self, student: Union[Tensor, Sequence[Tensor]],
                teacher: Union[Tensor, Sequence[Tensor]], **kwargs) -> Tensor:
        """Args:
            student: (x, y) SimCC logits, each (N, K, W); or one axis tensor
                (then the loss is that axis' term only, still divided by K,
                so that an x loss and a y loss add up to the full loss).
            teacher: the same structure from the teacher.
        """
        if isinstance(student, torch.Tensor):
            student, teacher = [student], [teacher]
        if len(student) != len(teacher):
            raise ValueError('SimCCLogitLoss: student and teacher give '
                             f'{len(student)} and {len(teacher)} axes.')
        num_keypoints = student[0].shape[1] if student[0].dim() == 3 else 1
        loss = sum(self._axis(s, t) for s, t in zip(student, teacher))
        return loss / num_keypoints * self.loss_weight

"""Binary (per-class sigmoid) KL divergence between dense logit maps."""
from typing import Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS

Maps = Union[Tensor, Sequence[Tensor]]


def _as_list(x: Maps):
    return [x] if isinstance(x, torch.Tensor) else list(x)


@MODELS.register_module()
class SigmoidKLLoss(nn.Module):
    """Per-class binary KL between sigmoid classifiers (dense heads).

    For detection heads whose classification branch is a set of independent
    sigmoids (RTMDet, GFL, FCOS, RetinaNet with sigmoid focal loss), with
    logits ``z`` of shape (N, C, H, W) (or (N, ..., C) with ``channel_dim=-1``)
    and ``p = sigmoid(z / tau)``:

    .. math::

        L = \\frac{\\tau^2}{P} \\sum_{positions} \\sum_{c}
            p^t_c \\log\\frac{p^t_c}{p^s_c}
            + (1 - p^t_c) \\log\\frac{1 - p^t_c}{1 - p^s_c}

    where ``P`` is the number of positions (N*H*W, summed over all levels when
    a list of levels is given). Its gradient is the one of BCE with the
    teacher's probabilities as soft targets (Hinton et al., "Distilling the
    Knowledge in a Neural Network", 2015, applied per class as in
    "Localization Distillation for Dense Object Detection", Zheng et al.,
    CVPR 2022), but it is 0 when the student matches the teacher. Used by
    mmkd's head self-KD recipe (DWPose stage 2 generalised to dense heads).

    Args:
        tau (float): Temperature. Defaults to 1.
        channel_dim (int): Class dimension. Defaults to 1.
        loss_weight (float): Defaults to 1.0.
    """

    # Compares distributions over classes or bins: a learned connector
    # between the two models' logits is refused (DistillModel).
    compares_distributions = True

    def __init__(self, tau: float = 1.0, channel_dim: int = 1,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.tau = tau
        self.channel_dim = channel_dim
        self.loss_weight = loss_weight

    def forward(self, student: Maps, teacher: Maps, **kwargs) -> Tensor:
        """Args:
            student: logits (N, C, H, W) or a list of such maps (levels).
            teacher: the same structure from the teacher.
        """
        students, teachers = _as_list(student), _as_list(teacher)
        if len(students) != len(teachers):
            raise ValueError(f'SigmoidKLLoss: {len(students)} student maps, '
                             f'{len(teachers)} teacher maps.')
        total, positions = 0., 0
        for s, t in zip(students, teachers):
            if s.shape != t.shape:
                raise ValueError(f'SigmoidKLLoss: student {tuple(s.shape)} '
                                 f'vs teacher {tuple(t.shape)}.')
            s = s.float() / self.tau
            t = t.detach().float() / self.tau
            p_t = t.sigmoid()
            # KL = BCE(s, p_t) - H(p_t); both from logits, stable.
            bce = F.binary_cross_entropy_with_logits(s, p_t, reduction='none')
            ent = F.binary_cross_entropy_with_logits(t, p_t, reduction='none')
            total = total + (bce - ent).sum()
            positions += s.numel() // s.shape[self.channel_dim]
        return total / max(positions, 1) * self.tau**2 * self.loss_weight

"""L1 imitation of dense box-regression maps, optionally confidence
weighted."""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS

Maps = Union[Tensor, Sequence[Tensor]]


@MODELS.register_module()
class DenseRegKDLoss(nn.Module):
    """L1 between student and teacher box-regression maps of a dense head.

    With regression maps ``r`` of shape (N, 4A, H, W) (e.g. RTMDet's
    ``rtm_reg`` outputs: distances to the box edges in stride units, or their
    log with ``exp_on_reg``):

    .. math::

        L = \\frac{\\sum_{positions} w \\sum_{j} |r^s_j - r^t_j|}
                  {\\sum_{positions} w}

    With ``w = 1`` (the default; student/teacher given as one map or a list
    of maps, one per level) this is the mean L1 per position. With
    ``confidence_weighted=True`` the teacher must be given as a pair
    ``(reg, cls)`` (each a map or a list of level maps, i.e. two recorder
    specs) and ``w`` is its confidence ``max_c sigmoid(cls_t)``, so that the
    imitation concentrates where the teacher sees an object (the regression
    of background positions is never trained by the detector's own loss);
    the student gives only ``reg``.
    This is the box part of mmkd's head self-KD (DWPose's stage 2
    generalised to dense detection heads); compare the confidence weighting
    of D-FINE's GO-LSD (Peng et al., arXiv:2410.13842).

    Args:
        confidence_weighted (bool): Weight positions by the teacher's class
            confidence. Defaults to False.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, confidence_weighted: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.confidence_weighted = confidence_weighted
        self.loss_weight = loss_weight

    @staticmethod
    def _levels(x: Maps) -> List[Tensor]:
        return [x] if isinstance(x, torch.Tensor) else list(x)

    def forward(self, student: Maps, teacher: Maps, **kwargs) -> Tensor:
        t_cls = None
        if self.confidence_weighted:
            if isinstance(teacher, torch.Tensor) or len(teacher) != 2:
                raise ValueError(
                    'DenseRegKDLoss(confidence_weighted=True) needs the '
                    'teacher as a pair (reg, cls).')
            teacher, t_cls = teacher
            t_cls = self._levels(t_cls)
        s_reg, t_reg = self._levels(student), self._levels(teacher)
        if len(s_reg) != len(t_reg):
            raise ValueError(f'DenseRegKDLoss: {len(s_reg)} student maps, '
                             f'{len(t_reg)} teacher maps.')
        total, norm = 0., 0.
        for i, (s, t) in enumerate(zip(s_reg, t_reg)):
            if s.shape != t.shape:
                raise ValueError(f'DenseRegKDLoss: student {tuple(s.shape)} '
                                 f'vs teacher {tuple(t.shape)}.')
            l1 = (s.float() - t.detach().float()).abs().sum(dim=1)  # N,H,W
            if t_cls is None:
                total = total + l1.sum()
                norm += l1.numel()
            else:
                w = t_cls[i].detach().float().sigmoid().max(dim=1)[0]
                total = total + (w * l1).sum()
                norm = norm + w.sum()
        return total / max(norm, 1e-6) * self.loss_weight

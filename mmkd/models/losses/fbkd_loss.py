"""FBKD: feature-based knowledge distillation for detectors."""
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS


def _non_local(channels: int, reduction: int, conv_cfg: dict,
               norm_cfg: Optional[dict], mode: str, sub_sample: bool,
               maxpool_stride: int, zeros_init: bool) -> nn.Module:
    """mmcv's NonLocal2d; with ``sub_sample`` its g and phi branches are
    max-pooled by 2 (mmcv) and then by ``maxpool_stride`` (MMRazor's
    ``NonLocal2dMaxpoolNstride``)."""
    from mmcv.cnn import NonLocal2d
    block = NonLocal2d(channels, sub_sample=sub_sample, conv_cfg=conv_cfg,
                       norm_cfg=norm_cfg, reduction=reduction, mode=mode,
                       zeros_init=zeros_init)
    if sub_sample:
        pool = nn.MaxPool2d(kernel_size=(maxpool_stride, maxpool_stride))
        block.g = nn.Sequential(block.g, pool)
        block.phi = nn.Sequential(block.phi, pool) \
            if mode != 'gaussian' else pool
    return block


def _attention(x: Tensor, spatial_t: float, channel_t: float) -> tuple:
    """FBKD's spatial (N, 1, H, W) and channel (N, C, 1, 1) attention: the
    softmax of the mean absolute activation over channels (positions) at
    temperature T, times H*W (C)."""
    n, c, h, w = x.shape
    a = x.abs()
    spatial = torch.softmax(a.mean(1).view(n, -1) / spatial_t, dim=1)
    channel = torch.softmax(a.mean((2, 3)) / channel_t, dim=1)
    return spatial.view(n, 1, h, w) * h * w, channel.view(n, c, 1, 1) * c


@MODELS.register_module()
class FBKDLoss(nn.Module):
    """Feature-based KD (Zhang & Ma, ICLR 2021) on (N, C, H, W) features of
    equal C (e.g. FPN levels).

    With the spatial attention :math:`M^s = HW \\cdot
    \\mathrm{softmax}_{hw}(\\frac{1}{C} \\sum_c |F_c| / T)` of each model,
    :math:`\\bar M = (M^s_S + M^s_T) / 2` (no gradient), the student's
    adaptations a (1x1 conv), :math:`a_c` (linear on the channel means),
    :math:`a_s` (3x3 conv on the spatial mean map) and the non-local blocks
    :math:`r_S` (followed by a 1x1 conv :math:`a_r`) and :math:`r_T`:

    .. math::
        L = w_f \\sqrt{\\textstyle\\sum \\bar M (F^T - a(F^S))^2}
          + w_c \\| \\mathrm{mean}_{hw} F^T - a_c(\\mathrm{mean}_{hw} F^S)\\|_2
          + w_s \\| \\mathrm{mean}_c F^T - a_s(\\mathrm{mean}_c F^S)\\|_2
          + w_{nl} \\| r_T(F^T) - a_r(r_S(F^S))\\|_2

    (norms over the whole batch), as the authors' code and MMRazor's
    ``FBKDLoss`` with its ``FBKDStudentConnector``/``FBKDTeacherConnector``.
    mmkd has no teacher-side connectors, so this loss holds both parts (they
    train with the student, the teacher's non-local block included); the
    channel attention is computed but, as in the authors' code, not used.
    ``sub_sample`` pools the non-local keys by 2 and then by
    ``maxpool_stride``, like MMRazor (the authors pool by the stride once).

    Reference: `Improve Object Detection with Feature-based Knowledge
    Distillation <https://openreview.net/forum?id=uKhGRvM8QNH>`_.

    Args:
        channels (int, optional): C (filled in from the recorded teacher
            feature; MMRazor's connector ``in_channels``).
        reduction (int): Channel reduction of the non-local blocks.
            Defaults to 2.
        conv_cfg (dict): Their conv layers. Defaults to ``Conv2d``.
        norm_cfg (dict, optional): Their output norm. Defaults to BN.
        mode (str): Their pairwise function. Defaults to ``'dot_product'``.
        sub_sample (bool): Max-pool their keys. Defaults to False.
        maxpool_stride (int): The extra pooling with ``sub_sample``.
            Defaults to 2.
        zeros_init (bool): Zero-initialise their output norm. Defaults to
            True.
        spatial_T (float): Temperature of the spatial attention. Defaults
            to 0.5.
        channel_T (float): Temperature of the channel attention. Defaults
            to 0.5.
        mask_l2_weight (float): :math:`w_f`. Defaults to 7e-5.
        channel_weight (float): :math:`w_c`. Defaults to 4e-3.
        spatial_weight (float): :math:`w_s`. Defaults to 4e-3.
        nonlocal_weight (float): :math:`w_{nl}` (MMRazor:
            ``nonloacl_weight``). Defaults to 7e-5.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 channels: Optional[int] = None,
                 reduction: int = 2,
                 conv_cfg: dict = dict(type='Conv2d'),
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 mode: str = 'dot_product',
                 sub_sample: bool = False,
                 maxpool_stride: int = 2,
                 zeros_init: bool = True,
                 spatial_T: float = 0.5,
                 channel_T: float = 0.5,
                 mask_l2_weight: float = 7e-5,
                 channel_weight: float = 4e-3,
                 spatial_weight: float = 4e-3,
                 nonlocal_weight: float = 7e-5,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if channels is None:
            raise ValueError('FBKDLoss needs channels (DistillModel fills '
                             'them in from the teacher feature).')
        self.channels = channels
        self.spatial_T = spatial_T
        self.channel_T = channel_T
        self.mask_l2_weight = mask_l2_weight
        self.channel_weight = channel_weight
        self.spatial_weight = spatial_weight
        self.nonlocal_weight = nonlocal_weight
        self.loss_weight = loss_weight
        nl = dict(reduction=reduction, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                  mode=mode, sub_sample=sub_sample,
                  maxpool_stride=maxpool_stride, zeros_init=zeros_init)
        # the student's adaptations
        self.channel_wise_adaptation = nn.Linear(channels, channels)
        self.spatial_wise_adaptation = nn.Conv2d(1, 1, 3, padding=1)
        self.adaptation_layers = nn.Conv2d(channels, channels, 1)
        self.student_non_local = _non_local(channels, **nl)
        self.non_local_adaptation = nn.Conv2d(channels, channels, 1)
        # the teacher's relation module (trained with the student)
        self.teacher_non_local = _non_local(channels, **nl)

    def forward(self, student: Tensor, teacher: Tensor, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student features (N, C, H, W).
            teacher (Tensor): Teacher features of the same shape.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if student.shape != teacher.shape or student.dim() != 4 \
                or student.shape[1] != self.channels:
            raise ValueError(f'FBKDLoss expects (N, {self.channels}, H, W) '
                             'features of equal shape, got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        s, t = student.float(), teacher.detach().float()
        s_spatial, _ = _attention(s, self.spatial_T, self.channel_T)
        t_spatial, _ = _attention(t, self.spatial_T, self.channel_T)
        mask = ((s_spatial + t_spatial) / 2).detach()

        feat = ((t - self.adaptation_layers(s)).pow(2) * mask).sum().sqrt()
        channel = torch.dist(t.mean((2, 3)),
                             self.channel_wise_adaptation(s.mean((2, 3))))
        spatial = torch.dist(t.mean(1, keepdim=True),
                             self.spatial_wise_adaptation(
                                 s.mean(1, keepdim=True)))
        relation = torch.dist(
            self.teacher_non_local(t),
            self.non_local_adaptation(self.student_non_local(s)))
        loss = (self.mask_l2_weight * feat + self.channel_weight * channel +
                self.spatial_weight * spatial +
                self.nonlocal_weight * relation)
        return self.loss_weight * loss

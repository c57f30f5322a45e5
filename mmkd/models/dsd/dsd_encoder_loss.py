"""DSD's between-encoder term: the deepest encoder stage's class map
teaches the shallower stages' through their own heads."""
from typing import Optional, Sequence

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS
from ..connectors import resize_like
from .dsd_head import DSDHead
from .dsd_loss import pixel_kl


@MODELS.register_module()
class DSDEncoderLoss(nn.Module):
    """Between-encoder self-distillation of DSD (Banerjee et al.).

    Every recorded encoder stage :math:`i` gets its own head
    (:class:`DSDHead`, held by this loss) to class logits :math:`z_i` at
    the class map's size; the deepest stage's map teaches each shallower
    one:

    .. math::
        L = \\beta \\sum_{i < k} \\tau^2 \\, \\frac{1}{NHW}
            \\sum_{n,h,w} \\sum_c p_k \\log \\frac{p_k}{p_i},
        \\quad p_i = \\mathrm{softmax}(z_i / \\tau)

    As in the official code, the encoder heads have no ground truth and
    the target is not detached (its ``KLDivLoss`` sends the gradient into
    the deepest head and stage too); its "deepest encoder" is the last
    stage before the bottleneck (the bottleneck feeds a decoder head).
    ``tau = 3`` and ``beta = 1`` (the official ``alpha_KL = 1.0`` weighs
    both branches). The heads are separate per stage (VNet, UNETR; the
    official nnU-Net reuses the decoder heads of the same resolution).

    The stages are recorded together as this loss's ``student`` (a list of
    specs, shallow to deep, the last one the teacher), with gradient; its
    ``teacher`` spec names a class map of the model (e.g.
    ``'decode_head.conv_seg'``) that gives the number of classes (filled
    into ``teacher_channels`` from the probe) and the size the maps are
    compared at; its values are not used. The heads' input channels are
    inferred at the set-up probe.

    Args:
        scale_factors (Sequence[int]): Each stage's upsampling factor to
            the class map's size (powers of 2), e.g. ``(1, 2, 4)``.
        teacher_channels (int, optional): Number of classes; filled in from
            the recorded class map.
        tau (float): Temperature. Defaults to 3.0 (official).
        loss_weight (float): Weight :math:`\\beta`. Defaults to 1.0
            (official).
        upsample (str): The heads' upsampling, ``'deconv'`` (official) or
            ``'bilinear'``.
    """

    compares_distributions = True

    def __init__(self,
                 scale_factors: Sequence[int],
                 teacher_channels: Optional[int] = None,
                 tau: float = 3.0,
                 loss_weight: float = 1.0,
                 upsample: str = 'deconv') -> None:
        super().__init__()
        if teacher_channels is None:
            raise ValueError(
                'DSDEncoderLoss needs the number of classes: name a class '
                "map as its teacher (e.g. teacher='decode_head.conv_seg').")
        if len(scale_factors) < 2:
            raise ValueError('DSDEncoderLoss needs two stages or more (the '
                             f'last teaches), got {len(scale_factors)}')
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.tau = tau
        self.loss_weight = loss_weight
        self.heads = nn.ModuleList(
            DSDHead(None, teacher_channels, s, upsample)
            for s in scale_factors)

    def forward(self, student: Sequence[Tensor], teacher: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            student (tuple[Tensor]): The encoder stages, shallow to deep.
            teacher (Tensor): A class map (N, C, H, W) of the model: its
                size is the maps' size.

        Returns:
            Tensor: The scalar loss.
        """
        got = len(student) if isinstance(student, (list, tuple)) else None
        if got != len(self.heads):
            raise ValueError(
                f'DSDEncoderLoss has {len(self.heads)} heads (scale_factors)'
                ' and expects as many recorded stages (a list of student '
                f'specs), got {got or type(student).__name__}')
        size = tuple(teacher.shape[-2:])
        maps = [resize_like(head(x), size)
                for head, x in zip(self.heads, student)]
        target = maps[-1]
        return self.loss_weight * sum(
            pixel_kl(m, target, self.tau) for m in maps[:-1])

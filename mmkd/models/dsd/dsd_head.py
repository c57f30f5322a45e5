"""DSD's auxiliary head: a U-Net stage's feature map -> class logits."""
import math
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class DSDHead(nn.Module):
    """The auxiliary head of dual self-distillation (DSD): a 1x1 conv to the
    class logits, then upsampling by ``scale_factor``. It is the official
    ``DeepUp`` ("bottleneck module" in the paper; monai's ``UnetOutBlock``
    and ``UpSample(mode='deconv')``): one 2x2, stride-2 transposed conv
    (classes -> classes, with bias) applied ``log2(scale_factor)`` times
    with the same weights (``multiple_upsample=True``); at
    ``scale_factor=1`` a 1x1 transposed conv, as there.

    As a connector of :class:`DSDLoss` its channels come from the probed
    records (``in_channels``: the stage's, ``out_channels``: the class
    map's); the wrapper then resizes the logits to the target's size (a
    no-op when ``scale_factor`` already brings them there).

    Args:
        in_channels (int, optional): Channels of the stage; None: inferred
            at the first forward (``nn.LazyConv2d``; the set-up probe runs
            one before the optimizer is built).
        out_channels (int): Number of classes.
        scale_factor (int): Upsampling factor, a power of 2. Defaults to 1.
        upsample (str): ``'deconv'`` (official) or ``'bilinear'``
            (parameter-free interpolation). Defaults to ``'deconv'``.
    """

    def __init__(self,
                 in_channels: Optional[int],
                 out_channels: int,
                 scale_factor: int = 1,
                 upsample: str = 'deconv') -> None:
        super().__init__()
        if scale_factor < 1 or scale_factor & (scale_factor - 1):
            raise ValueError('DSDHead scale_factor must be a power of 2, '
                             f'got {scale_factor}')
        if upsample not in ('deconv', 'bilinear'):
            raise ValueError("DSDHead upsample must be 'deconv' or "
                             f"'bilinear', got {upsample!r}")
        self.scale_factor = scale_factor
        self.conv = (nn.LazyConv2d(out_channels, 1) if in_channels is None
                     else nn.Conv2d(in_channels, out_channels, 1))
        self.deconv = None
        if upsample == 'deconv':
            step = min(scale_factor, 2)
            self.deconv = nn.ConvTranspose2d(
                out_channels, out_channels, step, stride=step)
        self.repeats = max(1, int(math.log2(scale_factor)))

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.deconv is not None:
            for _ in range(self.repeats):
                x = self.deconv(x)
        elif self.scale_factor > 1:
            x = F.interpolate(x, scale_factor=self.scale_factor,
                              mode='bilinear', align_corners=False)
        return x

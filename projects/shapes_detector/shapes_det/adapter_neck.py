"""The project's own neck: RTMDet's CSPNeXtPAFPN plus a 1x1 conv per level."""
from typing import Tuple

import torch.nn as nn
from mmdet.models.necks import CSPNeXtPAFPN
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class ShapesFPNAdapter(CSPNeXtPAFPN):
    """CSPNeXtPAFPN whose outputs pass through one more 1x1 conv each."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        channels = kwargs['out_channels']
        self.adapters = nn.ModuleList(
            nn.Conv2d(channels, channels, 1) for _ in self.out_convs)

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        return tuple(a(x) for a, x in zip(self.adapters,
                                          super().forward(inputs)))

"""BYOT's auxiliary exit on a shallow stage of a classifier."""
from typing import Tuple

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class BYOTExit(nn.Module):
    """An exit of BYOT (Zhang et al., ICCV 2019): a shallow stage's map to a
    ``(feature, logits)`` pair shaped like the deepest classifier's.

    The official code's ``branchBottleNeck`` followed by global average
    pooling and a linear classifier: 1x1 conv to ``out_channels // 4``,
    ``stride`` x ``stride`` conv with stride ``stride``, 1x1 conv to
    ``out_channels``, each with BatchNorm and ReLU (the convolutions with
    a bias, as there), then the pooled feature and its logits. In a
    4-stage ResNet (stride 2 between stages) the official strides are 8, 4
    and 2 for the first three stages. Convolutions are Kaiming-initialised
    (fan-out), as the official model does.

    As a connector of :class:`BYOTLoss` the channels come from the probed
    records: ``in_channels`` from the stage, ``out_channels`` and
    ``num_classes`` from the deepest ``(feature, logits)`` teacher spec.

    Reference: https://github.com/luanyunteng/pytorch-be-your-own-teacher
    (``models/resnet.py``).

    Args:
        in_channels (int): Channels of the stage's map.
        out_channels (int): Channels of the deepest (pooled) feature.
        num_classes (int): Classes of the deepest classifier.
        stride (int): Kernel size and stride of the middle convolution: the
            stage's spatial size over the deepest stage's.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 num_classes: int, stride: int) -> None:
        super().__init__()
        if out_channels < 4 or stride < 1:
            raise ValueError('BYOTExit needs out_channels >= 4 and stride '
                             f'>= 1, got {out_channels} and {stride}.')
        mid = out_channels // 4
        self.bottleneck = nn.Sequential(
            nn.Conv2d(in_channels, mid, 1), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, stride, stride=stride), nn.BatchNorm2d(mid),
            nn.ReLU(), nn.Conv2d(mid, out_channels, 1),
            nn.BatchNorm2d(out_channels), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(out_channels, num_classes)
        for m in self.bottleneck.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                        nonlinearity='relu')

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(N, C, H, W)`` -> ``(feature (N, out_channels), logits (N,
        num_classes))``."""
        if isinstance(x, (list, tuple)):
            raise ValueError(
                f'BYOTExit got a {type(x).__name__} of {len(x)}: the '
                'recorded module runs several times per forward (e.g. the '
                "ReLU a ResNet block shares); pick one call, e.g. '...[0]'.")
        if x.dim() != 4:
            raise ValueError('BYOTExit expects an (N, C, H, W) stage map, '
                             f'got {tuple(x.shape)}.')
        feature = self.pool(self.bottleneck(x)).flatten(1)
        return feature, self.fc(feature)

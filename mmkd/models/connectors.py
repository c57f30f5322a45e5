"""Connectors adapt a student tensor to the teacher's shape before a loss."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class ConvConnector(nn.Module):
    """1x1 (or kxk) convolution from student to teacher channels, optionally
    followed by BatchNorm and ReLU. For (N, C, H, W) features."""

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int = 1, norm: bool = False,
                 act: bool = False) -> None:
        super().__init__()
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size,
                            padding=kernel_size // 2, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if act:
            layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


@MODELS.register_module()
class LinearConnector(nn.Module):
    """Linear map on the last dimension (tokens or pooled features)."""

    def __init__(self, in_channels: int, out_channels: int,
                 norm: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)
        self.norm = nn.LayerNorm(out_channels) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.linear(x))


@MODELS.register_module()
class NormConnector(nn.Module):
    """Parameter-free normalisation of features to zero mean / unit variance
    per sample over channels and positions (like LayerNorm without affine)."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        dims = tuple(range(1, x.dim()))
        mean = x.mean(dims, keepdim=True)
        std = x.std(dims, keepdim=True)
        return (x - mean) / (std + self.eps)


@MODELS.register_module()
class ResizeConnector(nn.Module):
    """Resize (N, C, H, W) student maps to a fixed size; the wrapper also
    resizes automatically to the teacher's size when only H, W differ."""

    def __init__(self, size: Sequence[int], mode: str = 'bilinear') -> None:
        super().__init__()
        self.size = tuple(size)
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        return resize_like(x, self.size, self.mode)


def resize_like(x: Tensor, size: Tuple[int, ...], mode: str = 'bilinear'
                ) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    align = False if mode in ('bilinear', 'bicubic') else None
    return F.interpolate(x, size=size, mode=mode, align_corners=align)


def auto_connector(student_shape: torch.Size,
                   teacher_shape: torch.Size) -> Optional[dict]:
    """The connector config that maps ``student_shape`` to ``teacher_shape``,
    None when none is needed. Raises ValueError when no connector can."""
    s, t = tuple(student_shape), tuple(teacher_shape)
    if s == t:
        return None
    if len(s) != len(t) or s[0] != t[0]:
        raise ValueError(
            f'student shape {s} and teacher shape {t} differ in rank or batch '
            'size: no connector can map one to the other.')
    if len(s) == 4:
        if s[1] == t[1]:
            return None  # only H, W differ: resized in the wrapper
        return dict(type='ConvConnector', in_channels=s[1],
                    out_channels=t[1])
    if len(s) in (2, 3) and s[:-1] == t[:-1]:
        return dict(type='LinearConnector', in_channels=s[-1],
                    out_channels=t[-1])
    raise ValueError(
        f'student shape {s} and teacher shape {t} cannot be matched by a '
        'connector (only channels of (N, C, H, W) maps, the spatial size, '
        'or the last dim of (N, C)/(N, L, C) tensors can be adapted).')

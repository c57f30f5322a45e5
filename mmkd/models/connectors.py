"""Connectors adapt a student tensor to the teacher's shape before a loss."""
from typing import Optional, Sequence, Tuple, Union

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
    """Normalise features. Without ``norm_cfg``: parameter-free, to zero mean
    / unit variance per sample over channels and positions (like LayerNorm
    without affine). With ``norm_cfg`` (MMRazor's ``NormConnector``): an
    mmcv norm layer over ``in_channels``, e.g. ``dict(type='BN')``."""

    def __init__(self, in_channels: Optional[int] = None,
                 norm_cfg: Optional[dict] = None, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.norm = None
        if norm_cfg is not None:
            if in_channels is None:
                raise ValueError('NormConnector with norm_cfg needs '
                                 'in_channels.')
            from mmcv.cnn import build_norm_layer
            self.norm = build_norm_layer(norm_cfg, in_channels)[1]

    def forward(self, x: Tensor) -> Tensor:
        if self.norm is not None:
            return self.norm(x)
        dims = tuple(range(1, x.dim()))
        mean = x.mean(dims, keepdim=True)
        std = x.std(dims, keepdim=True)
        return (x - mean) / (std + self.eps)


@MODELS.register_module()
class ConvModuleConnector(nn.Module):
    """An mmcv ``ConvModule`` (conv, norm, activation in ``order``) from the
    student's to the teacher's channels: MMRazor's connector of the same
    name and arguments (``in_channel``/``out_channel``, singular; filled in
    from the recorded shapes when omitted). E.g. FitNet/OFD's
    ``norm_cfg=dict(type='BN'), act_cfg=None``."""

    def __init__(self,
                 in_channel: int,
                 out_channel: int,
                 kernel_size: Union[int, Tuple[int, int]] = 1,
                 stride: Union[int, Tuple[int, int]] = 1,
                 padding: Union[int, Tuple[int, int]] = 0,
                 dilation: Union[int, Tuple[int, int]] = 1,
                 groups: int = 1,
                 bias: Union[str, bool] = 'auto',
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 inplace: bool = True,
                 with_spectral_norm: bool = False,
                 padding_mode: str = 'zeros',
                 order: tuple = ('conv', 'norm', 'act')) -> None:
        super().__init__()
        from mmcv.cnn import ConvModule
        self.conv_module = ConvModule(
            in_channel, out_channel, kernel_size, stride=stride,
            padding=padding, dilation=dilation, groups=groups, bias=bias,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
            inplace=inplace, with_spectral_norm=with_spectral_norm,
            padding_mode=padding_mode, order=order)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_module(x)


@MODELS.register_module()
class MGDConnector(nn.Module):
    """MGD's generator as a connector (MMRazor's ``MGDConnector``): align
    the student to the teacher's channels (1x1 conv when they differ), zero
    random positions (ratio ``lambda_mgd``; whole channels with
    ``mask_on_channel``), and regenerate with conv3x3-ReLU-conv3x3.

    MMRazor's ``MGDLoss(alpha_mgd)`` after it is ``sum((S' - T)^2) / N *
    alpha_mgd``, i.e. mmkd's ``MSELoss(reduction='sum',
    loss_weight=alpha_mgd)``; mmkd's own ``MGDLoss`` holds this generator
    itself (use it without a connector instead).

    Reference: `Masked Generative Distillation
    <https://arxiv.org/abs/2205.01529>`_.
    """

    def __init__(self, student_channels: int, teacher_channels: int,
                 lambda_mgd: float = 0.65,
                 mask_on_channel: bool = False) -> None:
        super().__init__()
        self.lambda_mgd = lambda_mgd
        self.mask_on_channel = mask_on_channel
        self.align = nn.Conv2d(student_channels, teacher_channels, 1) \
            if student_channels != teacher_channels else None
        self.generation = nn.Sequential(
            nn.Conv2d(teacher_channels, teacher_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(teacher_channels, teacher_channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        if self.align is not None:
            x = self.align(x)
        n, c, h, w = x.shape
        shape = (n, c, 1, 1) if self.mask_on_channel else (n, 1, h, w)
        keep = torch.rand(shape, device=x.device) <= 1 - self.lambda_mgd
        return self.generation(x * keep.to(x.dtype))


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

"""Wide residual networks (Zagoruyko & Komodakis, BMVC 2016) for CIFAR: the
port of MMRazor's ``WideResNet`` backbone, with its module names, so its
checkpoints (e.g. OFD's WRN-28-4 teacher) load."""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, constant_init
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmkd.registry import MODELS

__all__ = ['WideResNet']


class PreActBlock(nn.Module):
    """The pre-activation basic block of WRN:
    ``y = conv2(relu(bn2(conv1(a)))) + (downsample(a) or x)``, with
    ``a = relu(bn1(x))`` (MMRazor's ``BasicBlock``; its dropout is never
    enabled by WideResNet, so it is left out)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 dilation: int = 1, downsample: Optional[nn.Module] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, in_channels,
                                                  postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, out_channels,
                                                  postfix=2)
        self.add_module(self.norm1_name, norm1)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, out_channels, 3,
                                      stride=stride, padding=dilation,
                                      dilation=dilation, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = build_conv_layer(conv_cfg, out_channels, out_channels,
                                      3, stride=1, padding=1, bias=False)
        self.downsample = downsample

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def forward(self, x: Tensor) -> Tensor:
        act = self.relu1(self.norm1(x))
        out = self.conv2(self.relu2(self.norm2(self.conv1(act))))
        return out + (self.downsample(act) if self.downsample else x)


@MODELS.register_module()
class WideResNet(BaseModule):
    """WRN-``depth``-``widen_factor`` for tiny images (CIFAR), three stages
    of ``(depth - 4) / 6`` pre-activation blocks of ``16 k``, ``32 k`` and
    ``64 k`` channels (``k`` = ``widen_factor``, ``base_channels=16``)
    after a 3x3 stem conv, then BN and ReLU; a 1x1 conv (no BN) on the
    activated input is the shortcut where the shape changes.

    The same arguments and module names as MMRazor's ``WideResNet``
    (``conv1``, ``layer{i}.{j}.{bn1,conv1,bn2,conv2,downsample}``, ``bn1``).
    MMRazor stores ``norm_eval`` without using it; here it keeps the
    BatchNorm statistics frozen in train mode (MMRazor's configs leave it
    False). ``frozen_stages=0`` freezes the stem conv (MMRazor's fails on
    its final norm, not yet built at that point).

    Args:
        depth (int): 10, 16, 22, 28 or 40.
        widen_factor (int): ``k``. Defaults to 4.
        in_channels (int): Input channels. Defaults to 3.
        stem_channels (int): Output channels of the stem. Defaults to 16.
        base_channels (int): First stage's channels over ``expansion``.
            Defaults to 16.
        expansion (int, optional): Channel multiplier; None is
            ``widen_factor``.
        num_stages (int): Stages, at most 3. Defaults to 3.
        strides (Sequence[int]): First-block stride of each stage.
        dilations (Sequence[int]): Dilation of each stage's first convs.
        frozen_stages (int): Stages frozen (the stem with stage 0); -1 none.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict): Norm layer config. Defaults to BN.
        norm_eval (bool): BatchNorm in eval mode while training.
        zero_init_residual (bool): Zero the blocks' second norm at init.
        init_cfg (dict | list[dict], optional): Kaiming convs and unit
            norms by default, as MMRazor's.

    Returns (forward):
        tuple[Tensor]: The last stage's activated features ``(N, 64 k, H/4,
        W/4)``, as a one-tuple.
    """
    arch_settings = {10: (1, 1, 1), 16: (2, 2, 2), 22: (3, 3, 3),
                     28: (4, 4, 4), 40: (6, 6, 6)}

    def __init__(self,
                 depth: int,
                 widen_factor: int = 4,
                 in_channels: int = 3,
                 stem_channels: int = 16,
                 base_channels: int = 16,
                 expansion: Optional[int] = None,
                 num_stages: int = 3,
                 strides: Sequence[int] = (1, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 zero_init_residual: bool = False,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1,
                          layer=['_BatchNorm', 'GroupNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise KeyError(f'invalid depth {depth} for WideResNet')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.expansion = expansion or widen_factor
        self.conv1 = build_conv_layer(conv_cfg, in_channels, stem_channels,
                                      3, stride=1, padding=1, bias=False)
        self.res_layers = []
        channels, out = stem_channels, base_channels * self.expansion
        for i, blocks in enumerate(self.arch_settings[depth][:num_stages]):
            downsample = None
            if strides[i] != 1 or channels != out:
                downsample = build_conv_layer(conv_cfg, channels, out, 1,
                                              stride=strides[i], bias=False)
            layer = nn.Sequential(*[
                PreActBlock(channels if j == 0 else out, out,
                            strides[i] if j == 0 else 1, dilations[i],
                            downsample if j == 0 else None, conv_cfg,
                            norm_cfg) for j in range(blocks)])
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
            channels, out = out, out * 2
        self.feat_dim = channels
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, channels,
                                                  postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        self._freeze_stages()

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _freeze_stages(self) -> None:
        frozen = [self.conv1] if self.frozen_stages >= 0 else []
        frozen += [getattr(self, f'layer{i}')
                   for i in range(1, self.frozen_stages + 1)]
        for m in frozen:
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        super().init_weights()
        if isinstance(self.init_cfg, dict) and \
                self.init_cfg.get('type') == 'Pretrained':
            return
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, PreActBlock):
                    constant_init(m.norm2, 0)

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        x = self.conv1(x)
        for name in self.res_layers:
            x = getattr(self, name)(x)
        return (self.relu(self.norm1(x)), )

    def train(self, mode: bool = True) -> 'WideResNet':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

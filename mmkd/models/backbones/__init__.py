"""Backbones that distillation recipes of other toolboxes train and mmkd
ports (MMRazor's WideResNet, the student and teacher of its OFD config)."""
from .wide_resnet import WideResNet

__all__ = ['WideResNet']

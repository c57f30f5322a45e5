"""Dual self-distillation (DSD) for U-shaped segmenters (Banerjee et al.,
IEEE TBME 2025): auxiliary heads on the encoder and decoder stages,
between-decoder and between-encoder KL of their class maps."""
from .dsd_encoder_loss import DSDEncoderLoss
from .dsd_head import DSDHead
from .dsd_loss import DSDLoss, dice_ce, pixel_kl

__all__ = ['DSDHead', 'DSDLoss', 'DSDEncoderLoss', 'pixel_kl', 'dice_ce']

"""BYOT (Be Your Own Teacher, ICCV 2019): self-distillation from a
classifier's deepest exit (its own head) into exits on its shallower
stages."""
from .byot_exit import BYOTExit
from .byot_loss import BYOTLoss

__all__ = ['BYOTExit', 'BYOTLoss']

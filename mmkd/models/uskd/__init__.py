"""USKD (ICCV 2023): self-knowledge distillation with customised soft
labels (a soft target label from the student's own prediction, Zipf
non-target labels ranked with a weak classifier on an intermediate
feature)."""
from .uskd_loss import USKDLoss
from .zipf import zipf_labels

__all__ = ['USKDLoss', 'zipf_labels']

"""Localization distillation (LD) for distribution box heads (GFL-style)."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS

_Input = Union[Tensor, Sequence[Tensor], Tuple[Sequence[Tensor],
                                               Sequence[Tensor]]]


@MODELS.register_module()
class LDLoss(nn.Module):
    """Localization Distillation: per-edge KL between the teacher's and the
    student's box-edge distributions.

    A GFL-style head predicts, at every location, 4 edges x ``reg_max + 1``
    bin logits. For each location :math:`k` and edge :math:`e`:

    .. math::
        \\ell_{k,e} = T^2 \\, KL\\big(\\mathrm{softmax}(z^t_{k,e}/T) \\,\\|\\,
        \\mathrm{softmax}(z^s_{k,e}/T)\\big)

    where the KL's sum over the bins is divided by ``reg_max + 1`` when
    ``bin_reduction='mean'`` (the default: mmdet's
    ``KnowledgeDistillationKLDivLoss``, with which the LD paper's weight 0.25
    was tuned) or kept as a sum (``'sum'``, the plain KL). The loss is the
    mean of :math:`\\ell_{k,e}` over locations and edges, or, when the
    recorder gives the head's whole output ``(cls_scores, bbox_preds)`` and
    ``teacher_score_weight`` is True, the weighted mean with weights
    :math:`w_k = \\max_c \\sigma(z^{t,cls}_{k,c})` (the teacher's confidence,
    detached), which focuses LD on objects the way the LD head's
    positive-sample weighting does without needing the student's label
    assignment. Computed in fp32.

    Inputs (from the distillation wrapper's recorders), for both student and
    teacher:

    - a tensor of distribution logits ``(N, 4 * (reg_max + 1), H, W)``
      (channel dim 1) or ``(..., 4 * (reg_max + 1))`` (last dim, for
      ``channel_last=True``);
    - a list / tuple of such tensors (e.g. one per FPN level:
      ``student='bbox_head[1]'`` on mmdet's ``GFLHead``);
    - the head's ``(cls_scores, bbox_preds)`` pair of per-level lists
      (``student='bbox_head'``), which enables the teacher-score weights.

    Reference: `Localization Distillation for Dense Object Detection
    <https://arxiv.org/abs/2102.12252>`_ (CVPR 2022): T = 10, weight 0.25.

    Args:
        reg_max (int): the head's ``reg_max``; each edge has ``reg_max + 1``
            bins. Defaults to 16 (GFL).
        temperature (float): :math:`T`. Defaults to 10.
        bin_reduction (str): ``'mean'`` or ``'sum'`` over the bins.
        teacher_score_weight (bool): weight locations by the teacher's class
            confidence when class scores are given. Defaults to True.
        channel_last (bool): tensors are ``(..., 4 * (reg_max + 1))``.
        loss_weight (float): Defaults to 0.25.
    """

    # Compares distributions over classes or bins: a learned connector
    # between the two models' logits is refused (DistillModel).
    compares_distributions = True

    def __init__(self,
                 reg_max: int = 16,
                 temperature: float = 10.0,
                 bin_reduction: str = 'mean',
                 teacher_score_weight: bool = True,
                 channel_last: bool = False,
                 loss_weight: float = 0.25) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        if bin_reduction not in ('mean', 'sum'):
            raise ValueError("bin_reduction must be 'mean' or 'sum', got "
                             f'{bin_reduction!r}')
        self.reg_max = reg_max
        self.temperature = temperature
        self.bin_reduction = bin_reduction
        self.teacher_score_weight = teacher_score_weight
        self.channel_last = channel_last
        self.loss_weight = loss_weight

    @staticmethod
    def _split(x: _Input) -> Tuple[Optional[List[Tensor]], List[Tensor]]:
        """-> (class scores per level or None, distributions per level)."""
        if isinstance(x, Tensor):
            return None, [x]
        x = list(x)
        if len(x) == 2 and all(isinstance(v, (list, tuple)) for v in x):
            return list(x[0]), list(x[1])
        if not all(isinstance(v, Tensor) for v in x):
            raise TypeError('LDLoss expects a tensor, a list of tensors or '
                            'a (cls_scores, bbox_preds) pair of lists')
        return None, x

    def _flat(self, x: Tensor, channels: int) -> Tensor:
        """-> (locations, channels) fp32."""
        x = x.float()
        if not self.channel_last:
            x = x.movedim(1, -1) if x.dim() > 2 else x
        if x.shape[-1] != channels:
            raise ValueError(f'LDLoss expects {channels} channels '
                             f'(4 x (reg_max + 1), reg_max={self.reg_max}), '
                             f'got shape {tuple(x.shape)} '
                             f'(channel_last={self.channel_last})')
        return x.reshape(-1, channels)

    def edge_kl(self, student: Tensor, teacher: Tensor) -> Tensor:
        """Per-edge :math:`T^2 KL`, inputs ``(M, 4 * (reg_max + 1))`` ->
        ``(M, 4)``."""
        T = self.temperature
        bins = self.reg_max + 1
        s = student.float().reshape(-1, 4, bins) / T
        t = teacher.detach().float().reshape(-1, 4, bins) / T
        kl = F.kl_div(
            F.log_softmax(s, -1),
            F.log_softmax(t, -1),
            reduction='none',
            log_target=True)
        kl = kl.mean(-1) if self.bin_reduction == 'mean' else kl.sum(-1)
        return (T**2) * kl

    def forward(self, student: _Input, teacher: _Input, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student: student distributions (see the class docstring).
            teacher: teacher distributions, same structure and shapes.

        Returns:
            Tensor: scalar loss multiplied by ``loss_weight``.
        """
        s_cls, s_reg = self._split(student)
        t_cls, t_reg = self._split(teacher)
        if len(s_reg) != len(t_reg):
            raise ValueError(f'student has {len(s_reg)} levels, teacher '
                             f'{len(t_reg)}')
        channels = 4 * (self.reg_max + 1)
        kls, weights = [], []
        use_w = self.teacher_score_weight and t_cls is not None
        for lvl, (s, t) in enumerate(zip(s_reg, t_reg)):
            if s.shape != t.shape:
                raise ValueError(f'level {lvl}: student {tuple(s.shape)} vs '
                                 f'teacher {tuple(t.shape)}')
            kls.append(
                self.edge_kl(self._flat(s, channels), self._flat(t, channels)))
            if use_w:
                c = t_cls[lvl].detach().float()
                c = c.movedim(1, -1) if (c.dim() > 2
                                         and not self.channel_last) else c
                weights.append(
                    c.reshape(-1, c.shape[-1]).sigmoid().max(-1)[0])
        kl = torch.cat(kls)  # (M, 4)
        if kl.numel() == 0:
            return sum(x.sum() for x in s_reg) * 0.0
        if use_w:
            w = torch.cat(weights)[:, None]
            loss = (kl * w).sum() / (4 * w.sum()).clamp(min=1e-6)
        else:
            loss = kl.mean()
        return self.loss_weight * loss

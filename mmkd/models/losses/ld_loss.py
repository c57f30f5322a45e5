"""Localization distillation (LD) for distribution box heads (GFL-style)."""
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from ._vlr import vlr_weights

_Input = Union[Tensor, Sequence[Tensor], Tuple[Sequence[Tensor],
                                               Sequence[Tensor]]]


def _is_pair(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) == 2


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
    was tuned) or kept as a sum (``'sum'``, the plain KL). Computed in fp32.

    ``region='main'`` (the LD paper's main distillation region, as mmdet's
    ``LDHead``): only the positive locations :math:`P` of the student's own
    label assignment (label in ``[0, num_classes)``), each weighted by the
    student's detached top class score, summed over them (not averaged: it
    grows with the number of positives, as mmdet's ``avg_factor=4.0``):

    .. math::
        L = \\lambda \\sum_{k \\in P} w_k \\frac{1}{4} \\sum_e \\ell_{k,e},
        \\qquad w_k = \\max_c \\sigma(z^{s,cls}_{k,c})

    ``region='vlr'`` (the paper's valuable localization region, the LD
    authors' ``loss_ld_vlr``; not in mmdet 3.x): the priors :math:`V` that
    an ATSS-like rule marks around each ground-truth box (DIoU between a
    quarter of ATSS's IoU threshold and the threshold, see
    :func:`~mmkd.models.losses._vlr.vlr_weights`), each weighted by its IoU
    :math:`v_k` with that box:

    .. math::
        L = \\lambda \\sum_{k \\in V} v_k \\frac{1}{16} \\sum_e \\ell_{k,e}

    ``region='all'``: every location, the mean of :math:`\\ell_{k,e}` over
    locations and edges, or, when the recorder gives the head's whole output
    ``(cls_scores, bbox_preds)`` and ``teacher_score_weight`` is True, the
    weighted mean with :math:`w_k = \\max_c \\sigma(z^{t,cls}_{k,c})` (the
    teacher's confidence, detached).

    Inputs (from the distillation wrapper's recorders). ``region='all'``,
    student and teacher alike:

    - a tensor of distribution logits ``(N, 4 * (reg_max + 1), H, W)``
      (channel dim 1) or ``(..., 4 * (reg_max + 1))`` (last dim, for
      ``channel_last=True``);
    - a list / tuple of such tensors (e.g. one per FPN level:
      ``student='bbox_head[1]'`` on mmdet's ``GFLHead``);
    - the head's ``(cls_scores, bbox_preds)`` pair of per-level lists
      (``student='bbox_head'``), which enables the teacher-score weights.

    ``region='main'``: the student gives ``((cls_scores, bbox_preds),
    labels)``, its head's output and the per-level labels of its label
    assignment, ``(N, H * W)`` each (one prior per location), e.g.
    ``student=['bbox_head', 'bbox_head.get_targets()[1]']`` on mmdet's
    ``GFLHead`` (what its loss assigns, read rather than recomputed); the
    teacher its per-level distributions (a list / tuple, e.g.
    ``[f'bbox_head.scales.{i}' for i in range(5)]``, or the head's pair).
    ``region='vlr'``: the student gives ``(bbox_preds, priors)``, the
    per-level priors ``(N, H * W, 4)`` of its assignment, e.g.
    ``['bbox_head[1]', 'bbox_head.get_targets()[0]']`` on ``GFLHead``; the
    teacher as for ``'main'``; the ground-truth boxes come from the batch's
    data samples (``gt_instances.bboxes``).

    Reference: `Localization Distillation for Dense Object Detection
    <https://arxiv.org/abs/2102.12252>`_ (CVPR 2022): T = 10, weight 0.25.
    Official code: https://github.com/HikariTJU/LD (``LDHead``, main region
    weight 0.25, VLR weight 0.25).

    Args:
        reg_max (int): the head's ``reg_max``; each edge has ``reg_max + 1``
            bins. Defaults to 16 (GFL).
        temperature (float): :math:`T`. Defaults to 10.
        bin_reduction (str): ``'mean'`` or ``'sum'`` over the bins.
        region (str): ``'all'`` locations, the ``'main'`` region (the
            student's positives) or the ``'vlr'``. Defaults to ``'all'``;
            the recipe ``configs/distill/ld_gfl.py`` has one loss of
            ``'main'`` and one of ``'vlr'``.
        teacher_score_weight (bool): with ``region='all'``, weight
            locations by the teacher's class confidence when class scores
            are given. Defaults to True.
        vlr_topk (int): ATSS's ``topk`` in the VLR rule; the student's
            assigner's (9 in GFL). Defaults to 9.
        channel_last (bool): tensors are ``(..., channels)``.
        loss_weight (float): :math:`\\lambda`. Defaults to 0.25.
    """

    # Compares distributions over classes or bins: a learned connector
    # between the two models' logits is refused (DistillModel).
    compares_distributions = True

    def __init__(self,
                 reg_max: int = 16,
                 temperature: float = 10.0,
                 bin_reduction: str = 'mean',
                 region: str = 'all',
                 teacher_score_weight: bool = True,
                 vlr_topk: int = 9,
                 channel_last: bool = False,
                 loss_weight: float = 0.25) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        if bin_reduction not in ('mean', 'sum'):
            raise ValueError("bin_reduction must be 'mean' or 'sum', got "
                             f'{bin_reduction!r}')
        if region not in ('all', 'main', 'vlr'):
            raise ValueError("region must be 'all', 'main' or 'vlr', got "
                             f'{region!r}')
        self.reg_max = reg_max
        self.temperature = temperature
        self.bin_reduction = bin_reduction
        self.region = region
        self.teacher_score_weight = teacher_score_weight
        self.vlr_topk = vlr_topk
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

    def _flat(self, x: Tensor, channels: Optional[int] = None) -> Tensor:
        """-> (locations, channels) fp32; ``channels`` checked if given."""
        x = x.float()
        if not self.channel_last:
            x = x.movedim(1, -1) if x.dim() > 2 else x
        if channels is not None and x.shape[-1] != channels:
            raise ValueError(f'LDLoss expects {channels} channels '
                             f'(4 x (reg_max + 1), reg_max={self.reg_max}), '
                             f'got shape {tuple(x.shape)} '
                             f'(channel_last={self.channel_last})')
        return x.reshape(-1, x.shape[-1])

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

    def forward(self,
                student: Any,
                teacher: _Input,
                data_samples: Optional[Sequence[Any]] = None,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student: student distributions, with ``region='main'`` its head
                output and labels, with ``'vlr'`` its distributions and
                priors (see the class docstring).
            teacher: teacher distributions, same levels and shapes.
            data_samples (list, optional): the batch's mmdet data samples,
                for the ground-truth boxes of ``region='vlr'``.

        Returns:
            Tensor: scalar loss multiplied by ``loss_weight``.
        """
        if self.region == 'main':
            return self.loss_weight * self._main_region(student, teacher)
        if self.region == 'vlr':
            return self.loss_weight * self._vlr(student, teacher,
                                                data_samples)
        s_cls, s_reg = self._split(student)
        t_cls, t_reg = self._split(teacher)
        self._check_levels(s_reg, t_reg)
        channels = 4 * (self.reg_max + 1)
        kls, weights = [], []
        use_w = self.teacher_score_weight and t_cls is not None
        for lvl, (s, t) in enumerate(zip(s_reg, t_reg)):
            kls.append(
                self.edge_kl(self._flat(s, channels), self._flat(t, channels)))
            if use_w:
                weights.append(
                    self._flat(t_cls[lvl].detach()).sigmoid().max(-1)[0])
        kl = torch.cat(kls)  # (M, 4)
        if kl.numel() == 0:
            return sum(x.sum() for x in s_reg) * 0.0
        if use_w:
            w = torch.cat(weights)[:, None]
            loss = (kl * w).sum() / (4 * w.sum()).clamp(min=1e-6)
        else:
            loss = kl.mean()
        return self.loss_weight * loss

    @staticmethod
    def _check_levels(s_reg: List[Tensor], t_reg: List[Tensor]) -> None:
        if len(s_reg) != len(t_reg):
            raise ValueError(f'student has {len(s_reg)} levels, teacher '
                             f'{len(t_reg)}')
        for lvl, (s, t) in enumerate(zip(s_reg, t_reg)):
            if s.shape != t.shape:
                raise ValueError(f'level {lvl}: student {tuple(s.shape)} vs '
                                 f'teacher {tuple(t.shape)}')

    def _main_region(self, student: Any, teacher: _Input) -> Tensor:
        """:math:`\\sum_{k \\in P} w_k \\sum_e \\ell_{k,e} / 4` over the
        student's positive locations (mmdet's ``LDHead.loss_ld``, summed
        over the levels)."""
        if not (_is_pair(student) and _is_pair(student[0])):
            raise TypeError(
                "LDLoss(region='main') expects the student's ((cls_scores, "
                'bbox_preds), labels), e.g. recorded with '
                "student=['bbox_head', 'bbox_head.get_targets()[1]'] on "
                "mmdet's GFLHead")
        (s_cls, s_reg), labels = student
        s_cls, s_reg, labels = list(s_cls), list(s_reg), list(labels)
        t_reg = self._split(teacher)[1]
        self._check_levels(s_reg, t_reg)
        if not len(s_cls) == len(labels) == len(s_reg):
            raise ValueError(f'student has {len(s_reg)} levels of boxes, '
                             f'{len(s_cls)} of class scores and '
                             f'{len(labels)} of labels')
        channels = 4 * (self.reg_max + 1)
        kls, weights = [], []
        for lvl, (cls, s, t, label) in enumerate(
                zip(s_cls, s_reg, t_reg, labels)):
            s, t = self._flat(s, channels), self._flat(t, channels)
            cls = self._flat(cls.detach())
            label = label.reshape(-1)
            if not label.numel() == cls.shape[0] == s.shape[0]:
                raise ValueError(
                    f'level {lvl}: {label.numel()} labels, {cls.shape[0]} '
                    f'class scores and {s.shape[0]} box distributions: '
                    "region='main' needs one prior per location (GFL)")
            # FG labels 0 .. num_classes - 1, BG num_classes (sigmoid head)
            pos = ((label >= 0) & (label < cls.shape[1])).nonzero()[:, 0]
            kls.append(self.edge_kl(s[pos], t[pos]))
            weights.append(cls.sigmoid().max(-1)[0][pos])
        kl, w = torch.cat(kls), torch.cat(weights)
        return (kl * w[:, None]).sum() / 4

    def _vlr(self, student: Any, teacher: _Input,
             data_samples: Optional[Sequence[Any]]) -> Tensor:
        """:math:`\\sum_{k \\in V} v_k \\sum_e \\ell_{k,e} / 16` (the LD
        authors' ``loss_ld_vlr``, summed over the levels)."""
        if not _is_pair(student):
            raise TypeError(
                "LDLoss(region='vlr') expects the student's (bbox_preds, "
                "priors), e.g. recorded with student=['bbox_head[1]', "
                "'bbox_head.get_targets()[0]'] on mmdet's GFLHead")
        s_reg, priors = list(student[0]), list(student[1])
        if data_samples is None:
            raise ValueError("LDLoss(region='vlr') needs the data_samples "
                             'keyword (the ground-truth boxes)')
        t_reg = self._split(teacher)[1]
        self._check_levels(s_reg, t_reg)
        if len(priors) != len(s_reg):
            raise ValueError(f'student has {len(s_reg)} levels of boxes and '
                             f'{len(priors)} of priors')
        n = s_reg[0].shape[0]
        if len(data_samples) != n or any(p.shape[0] != n for p in priors):
            raise ValueError(
                f'{len(data_samples)} data samples and priors of '
                f'{[tuple(p.shape) for p in priors]} for a batch of {n}')
        num_level = [p.shape[1] for p in priors]
        weights = []  # per image, all levels
        for i, sample in enumerate(data_samples):
            gts = sample.gt_instances.bboxes
            gts = torch.as_tensor(getattr(gts, 'tensor', gts)).reshape(-1, 4)
            weights.append(vlr_weights(
                torch.cat([p[i] for p in priors]), num_level, gts,
                self.vlr_topk).split(num_level))
        channels = 4 * (self.reg_max + 1)
        kls, ws = [], []
        for lvl, (s, t) in enumerate(zip(s_reg, t_reg)):
            s, t = self._flat(s, channels), self._flat(t, channels)
            w = torch.cat([w_img[lvl] for w_img in weights])
            if w.numel() != s.shape[0]:
                raise ValueError(
                    f'level {lvl}: {w.numel()} priors for {s.shape[0]} box '
                    "distributions: region='vlr' needs one prior per "
                    'location (GFL)')
            keep = (w > 0).nonzero()[:, 0]
            kls.append(self.edge_kl(s[keep], t[keep]))
            ws.append(w[keep])
        kl, w = torch.cat(kls), torch.cat(ws)
        return (kl * w[:, None]).sum() / 16

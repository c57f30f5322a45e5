"""USKD: universal self-knowledge distillation with customised soft
labels."""
from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from ..losses._labels import class_labels
from .zipf import zipf_labels


@MODELS.register_module()
class USKDLoss(nn.Module):
    """USKD: self-KD without a teacher (Yang et al., ICCV 2023).

    NKD's two terms with soft labels the student makes itself. With the
    final prediction :math:`S = \\mathrm{softmax}(z)`, the target class t,
    the weak prediction :math:`W = \\mathrm{softmax}(\\mathrm{fc}(
    \\mathrm{GAP}(F)))` of a linear classifier on an intermediate feature F
    and :math:`\\hat S_i = \\mathrm{softmax}_{i \\ne t}(z_i)`:

    .. math::
        \\tilde S_t = S_t^2 + 1 - \\overline{S_t^2}, \\qquad
        L_t = -\\frac{1}{N} \\sum_n \\tilde S_t \\log S_t

        L_w = -\\frac{\\mu}{N} \\sum_n \\sum_i y_i \\log W_i, \\qquad
        y = 0.9 \\, \\mathrm{onehot}(t) + 0.1 / C

        r_i = \\frac{W_i}{1 - W_t + 10^{-6}} +
        \\frac{\\log S_i}{1 - \\log S_t + 10^{-6}}, \\qquad
        \\hat z_i = \\frac{1 / \\mathrm{rank}(r_i)}
        {\\sum_{j \\ne t} 1 / \\mathrm{rank}(r_j)}

        L_n = -\\frac{1}{N} \\sum_n \\sum_{i \\ne t} \\hat z_i
        \\log \\hat S_i, \\qquad
        L = \\alpha L_t + \\beta L_n + L_w

    (:math:`\\overline{\\cdot}` the mean over the batch, on each process;
    :math:`\\tilde S_t` and :math:`\\hat z` carry no gradient; rank 1 is
    the highest score, over all C classes, the target included). This is
    the authors' code (yzd-v/cls_KD ``mmcls/models/dis_losses/uskd.py``),
    which differs from the paper in the ranking: its second term divides
    the student's log-probabilities (not the probabilities) by one minus
    the log-probability of the target.

    The intermediate feature is the authors' for ResNets: the output of
    the third of four stages (``backbone.layer3`` of an mmpretrain ResNet),
    average-pooled as their ``GlobalAveragePooling`` neck does. The weak
    classifier ``fc`` belongs to this loss (saved under ``distill_state``
    and trained with the student; PyTorch's default ``nn.Linear``
    initialisation, as theirs).

    Recorded by :class:`DistillModel` with ``self_distill=True``:
    ``student=[<intermediate feature>, <logits>]`` (with gradient) and
    ``teacher=<logits>`` (the same logits, detached: the soft labels are
    made from them; identical to the authors' detaching). The builder
    fills ``student_channels`` from the feature and ``teacher_channels``
    from the logits.

    Hard labels only (from the data samples' ``gt_label`` or
    ``gt_labels``); the authors' code also takes the top two classes of
    mixed (Mixup/CutMix) labels.

    Reference: `From Knowledge Distillation to Self-Knowledge Distillation:
    A Unified Approach with Normalized Loss and Customized Soft Labels
    <https://arxiv.org/abs/2303.13005>`_.

    Args:
        student_channels (int): Channels of the intermediate feature (the
            weak classifier's input; the authors' ``channel``, 256 for
            ResNet-18). Filled by the builder.
        teacher_channels (int): The number of classes: the channels of the
            logits (the authors' ``num_classes``). Filled by the builder.
        alpha (float): Weight :math:`\\alpha` of the target term. Defaults
            to 1.0 (the authors' ImageNet ResNet-18 config; their CIFAR-100
            one uses 0.1).
        beta (float): Weight :math:`\\beta` of the non-target term.
            Defaults to 0.1 (both configs).
        mu (float): Weight :math:`\\mu` of the weak classifier's
            label-smoothed cross-entropy. Defaults to 0.005 (ImageNet;
            CIFAR-100: 0.1).
        loss_weight (float): Weight of the whole loss. Defaults to 1.0.
    """

    def __init__(self,
                 student_channels: Optional[int] = None,
                 teacher_channels: Optional[int] = None,
                 alpha: float = 1.0,
                 beta: float = 0.1,
                 mu: float = 0.005,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if student_channels is None or teacher_channels is None:
            raise ValueError(
                'USKDLoss needs student_channels (the intermediate '
                'feature\'s) and teacher_channels (the number of classes): '
                'DistillModel fills them when the loss records '
                "student=['backbone.layer3', 'head.fc'] and "
                "teacher='head.fc' (configs/distill/cls_uskd.py).")
        self.alpha = alpha
        self.beta = beta
        self.mu = mu
        self.loss_weight = loss_weight
        self.fc = nn.Linear(student_channels, teacher_channels)

    def forward(self,
                student: Tuple[Tensor, Tensor],
                teacher: Optional[Tensor] = None,
                data_samples: Optional[Sequence[Any]] = None,
                gt_labels: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            student (tuple[Tensor, Tensor]): The intermediate feature,
                (N, C', H, W) (average-pooled here) or (N, C') (pooled
                already), and the logits (N, C), both with gradient.
            teacher (Tensor, optional): The same logits detached, the soft
                labels' source; None: the student's logits, detached.
            data_samples (list, optional): The batch's data samples, one
                ``gt_label`` (class index) each.
            gt_labels (Tensor, optional): (N, ) class indices; wins over
                ``data_samples``.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if not (isinstance(student, (tuple, list)) and len(student) == 2):
            raise ValueError(
                'USKDLoss expects student=(intermediate feature, logits), '
                "i.e. a student spec like ['backbone.layer3', 'head.fc'].")
        feature, logits = student
        if feature.dim() == 4:
            feature = feature.mean(dim=(2, 3))
        if feature.dim() != 2 or logits.dim() != 2 or logits.shape[1] < 2:
            raise ValueError(
                'USKDLoss expects a (N, C, H, W) or (N, C) feature and '
                f'(N, C >= 2) logits, got {tuple(feature.shape)} and '
                f'{tuple(logits.shape)}.')
        logits = logits.float()
        target = (logits if teacher is None else teacher.float()).detach()
        if target.shape != logits.shape:
            raise ValueError(
                f'USKDLoss: the target logits {tuple(target.shape)} are not '
                f'the shape of the student logits {tuple(logits.shape)}.')
        n, c = logits.shape
        labels = class_labels(data_samples, gt_labels, n, 'USKDLoss',
                              logits.device)[:, None]

        # soft target label from the squared target probability
        p_t = F.softmax(target, dim=1).gather(1, labels)**2
        p_t = p_t + 1 - p_t.mean(0, keepdim=True)
        log_s = F.log_softmax(logits, dim=1)
        loss_t = -(p_t * log_s.gather(1, labels)).sum(1).mean()

        # weak supervision: the fc on the pooled intermediate feature
        smooth = torch.zeros_like(logits).scatter_(1, labels, 0.9) + 0.1 / c
        weak = self.fc(feature.float())
        loss_weak = -(self.mu * smooth * F.log_softmax(weak, 1)).sum(1).mean()

        # Zipf non-target labels, ranked by the weak and final predictions
        w = F.softmax(weak.detach(), dim=1)
        log_t = F.log_softmax(target, dim=1)
        scores = (w / (1 - w.gather(1, labels) + 1e-6) +
                  log_t / (1 - log_t.gather(1, labels) + 1e-6))
        others = torch.ones_like(logits).scatter_(1, labels, 0).bool()
        zipf = zipf_labels(scores)[others].view(n, c - 1)
        zipf = zipf / zipf.sum(dim=1, keepdim=True)
        log_non = F.log_softmax(logits[others].view(n, c - 1), dim=1)
        loss_non = -(zipf * log_non).sum(1).mean()
        return self.loss_weight * (self.alpha * loss_t + self.beta * loss_non
                                   + loss_weak)

"""BYOT's loss on one shallow exit: labels, the deepest classifier's soft
labels and its feature."""
from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from ..losses._labels import class_labels


@MODELS.register_module()
class BYOTLoss(nn.Module):
    """Be Your Own Teacher (Zhang et al., ICCV 2019) for one shallow exit.

    The exit's ``(F_i, q_i)`` (feature and logits of a :class:`BYOTExit`
    connector on a shallow stage) learns from the labels ``y`` and from the
    deepest classifier's ``(F_C, q_C)`` (the model's own pooled feature and
    head logits, recorded on the same forward and detached), as the
    official code computes it:

    .. math::
        L_i = (1 - \\alpha)\\, CE(q_i, y)
              - \\alpha\\, T^2\\, \\frac{1}{N} \\sum_n \\sum_c
                \\mathrm{softmax}(q_C / T)_c \\log \\mathrm{softmax}(q_i / T)_c
              + \\beta \\sum_{n, c} (F_i - F_C)^2 \\,
                [F_i > 0 \\lor F_C > 0]

    The soft-label term is the cross-entropy with the deepest softened
    distribution (the official ``kd_loss_function``), which is the paper's
    KL divergence plus the target's entropy: the same gradient, a larger
    value. The feature term is summed over the batch and the channels (not
    averaged), and masked where both features are 0 (a no-op on the
    non-negative features of ReLU networks). The deepest classifier's own
    cross-entropy is the student's loss; the official code weights it by
    ``1 - alpha`` too (the ``cls_byot.py`` recipe sets the head's
    ``loss_weight``).

    Official hyper-parameters (github.com/luanyunteng/
    pytorch-be-your-own-teacher ``train.py``, CIFAR-100 ResNet-18/50):
    ``T = 3``, ``alpha = 0.1``, ``beta = 1e-6``. MMRazor's
    ``byot_resnet18_8xb16_cifar100.py`` differs: CE 0.7 and KL 0.3
    (``alpha = 0.3``) with ``tau`` 3; a feature term of weight 0.03 on the
    first two exits and 0 on the third that is the L2 distance
    ``sqrt(sum (F_i - F_C)^2)`` (``L2Loss(dist=True)``; here
    ``feature_dist=True``); KL instead of the soft cross-entropy; the
    deepest cross-entropy at weight 1; an attention/separable-conv exit
    (``BYOTConnector``) on the first ReLU of each stage's last block.

    Reference: `Be Your Own Teacher: Improve the Performance of
    Convolutional Neural Networks via Self Distillation
    <https://arxiv.org/abs/1905.08094>`_.

    Args:
        tau (float): Temperature :math:`T`. Defaults to 3.0.
        alpha (float): Weight of the soft-label term; the label term has
            ``1 - alpha``. Defaults to 0.1.
        beta (float): Weight of the feature term. Defaults to 1e-6.
        feature_dist (bool): Use the L2 distance
            ``sqrt(sum (F_i - F_C)^2)`` (MMRazor's) instead of the official
            masked sum of squares. Defaults to False.
        loss_weight (float): Weight of the whole loss. Defaults to 1.0.
    """

    def __init__(self, tau: float = 3.0, alpha: float = 0.1,
                 beta: float = 1e-6, feature_dist: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        if not 0 <= alpha <= 1:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        self.tau = tau
        self.alpha = alpha
        self.beta = beta
        self.feature_dist = feature_dist
        self.loss_weight = loss_weight

    def forward(self, student: Tuple[Tensor, Tensor],
                teacher: Tuple[Tensor, Tensor],
                data_samples: Optional[Sequence[Any]] = None) -> Tensor:
        """Compute the loss of one exit.

        Args:
            student (tuple[Tensor, Tensor]): The exit's feature (N, C, ...)
                and logits (N, K) (its :class:`BYOTExit` connector's).
            teacher (tuple[Tensor, Tensor]): The deepest feature (N, C, ...)
                and logits (N, K).
            data_samples (list, optional): The batch's data samples (their
                ``gt_label``).

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        pairs = [x for x in (student, teacher)
                 if isinstance(x, (tuple, list)) and len(x) == 2]
        if len(pairs) != 2:
            raise ValueError(
                'BYOTLoss takes (feature, logits) pairs: the student from a '
                'BYOTExit connector on a stage, the teacher from a spec '
                "list such as ['neck[-1]', 'head.fc'].")
        (feat, logits), (t_feat, t_logits) = student, teacher
        feat, t_feat = feat.flatten(1).float(), t_feat.flatten(1).float()
        logits, t_logits = logits.float(), t_logits.detach().float()
        if feat.shape != t_feat.shape or logits.shape != t_logits.shape:
            raise ValueError(
                f'BYOTLoss: exit feature {tuple(feat.shape)} and logits '
                f'{tuple(logits.shape)} against the deepest '
                f'{tuple(t_feat.shape)} and {tuple(t_logits.shape)}.')
        labels = class_labels(data_samples, None, len(logits), 'BYOTLoss',
                              logits.device)
        ce = F.cross_entropy(logits, labels)
        target = F.softmax(t_logits / self.tau, dim=1)
        soft = -(target * F.log_softmax(logits / self.tau, dim=1)).sum(
            1).mean() * self.tau**2
        diff = (feat - t_feat.detach())**2
        if self.feature_dist:
            feature = torch.sqrt(diff.sum())
        else:
            feature = (diff * ((feat > 0) | (t_feat > 0))).sum()
        loss = (1 - self.alpha) * ce + self.alpha * soft + \
            self.beta * feature
        return self.loss_weight * loss

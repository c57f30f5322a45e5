"""PS-KD: the model's own past predictions soften its targets."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .prediction_memory import PredictionMemory


@MODELS.register_module()
class PSKDLoss(nn.Module):
    """Progressive self-knowledge distillation (Kim et al., ICCV 2021).

    No teacher: at epoch :math:`t` (0-based) of :math:`T` the target of a
    sample :math:`x` mixes its label with the softmax the model itself gave
    :math:`x` at its previous visit (the previous epoch):

    .. math::
        q_t(x) = (1 - \\alpha_t)\\, y + \\alpha_t\\, p_{t-1}(x), \\qquad
        \\alpha_t = \\alpha_T \\frac{t + 1}{T},

    trained with the soft-target cross entropy
    :math:`-\\sum_c q_{t,c} \\log \\mathrm{softmax}(z)_c` averaged over the
    batch. Official code (lgcnsai/PS-KD-Pytorch, ``main.py``): :math:`\\alpha_T
    = 0.8`; the memory of predictions starts as the one-hot labels in
    epoch 0 (epoch 0 trains on :math:`y` alone, although :math:`\\alpha_0 =
    \\alpha_T / T`) and is overwritten after every step with the detached
    softmax of that step's forward.

    In mmkd the student keeps its own loss :math:`CE(z, y)`
    (``DistillModel`` with ``self_distill=True``, weight 1); this loss adds
    the rest,

    .. math::
        L = \\alpha_t \\big[CE(z, p_{t-1}) - CE(z, y)\\big]
          = -\\alpha_t \\sum_c (p_{t-1} - y)_c \\log \\mathrm{softmax}(z)_c,

    so that :math:`CE(z, y) + L` equals the official loss exactly, value and
    gradient (the cross entropy is linear in its target). :math:`L` is
    negative when the past prediction fits better than the label, and 0
    for a sample not seen yet. :math:`\\alpha_t` is ``loss_weight`` times
    the schedule's factor: ``loss_weight`` = :math:`\\alpha_T` with
    ``LinearRampWeight`` (factor :math:`(t + 1) / T`). This holds only if
    the head's loss is a plain cross entropy with weight 1 (mmpretrain's
    ``CrossEntropyLoss``, no class weights, no label smoothing), which
    :meth:`check_student` checks. :math:`y` is the head's own target:
    ``gt_score`` when batch augmentations set it, else the one-hot
    ``gt_label``.

    The memory (:class:`PredictionMemory`, a buffer saved under
    ``distill_state``) is indexed by ``data_samples[i].metainfo
    ['sample_idx']`` (mmengine's datasets set it, mmpretrain's
    ``PackInputs`` keeps it); under DDP every rank stores every rank's
    predictions. A sample not seen yet reads :math:`y`, which is the
    official epoch 0 whenever each sample is visited once per epoch (as
    the official loader and mmengine's ``DefaultSampler`` do). Indices must
    name one sample each: ``ConcatDataset`` restarts them per dataset (not
    supported); ``RepeatDataset`` gives a repeat its sample's index (its
    previous visit, as intended). Only training forwards (train mode,
    gradients on) write the memory; ``DistillModel``'s set-up probe does
    not, the KD doctor runs on a copy. A schedule factor of 0 skips the
    loss and so the writes; ``LinearRampWeight`` is never 0.

    Reference: `Self-Knowledge Distillation with Progressive Refinement of
    Targets <https://arxiv.org/abs/2006.12000>`_.

    Args:
        loss_weight (float): :math:`\\alpha_T`. Defaults to 0.8 (the
            paper's and the official code's).
    """

    compares_distributions = True

    def __init__(self, loss_weight: float = 0.8) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.memory = PredictionMemory()

    def forward(self, student: Tensor, teacher: None = None,
                data_samples: Optional[Sequence] = None) -> Tensor:
        """Compute :math:`L` and store this step's predictions.

        Args:
            student (Tensor): The student's class logits, (B, C).
            teacher (None): PS-KD has no teacher (no ``teacher`` spec).
            data_samples (Sequence): mmpretrain ``DataSample`` with
                ``gt_label`` (or ``gt_score``) and ``sample_idx``.

        Returns:
            Tensor: Scalar, ``loss_weight`` x the bracket (``DistillModel``
            multiplies it by the schedule's factor: :math:`L`).
        """
        if teacher is not None:
            raise ValueError('PSKDLoss learns from the student\'s own past '
                             'predictions: give it no teacher spec.')
        if data_samples is None:
            raise ValueError('PSKDLoss needs the data samples (labels and '
                             'sample_idx).')
        if student.dim() != 2:
            raise ValueError('PSKDLoss expects class logits (B, C), got '
                             f'{tuple(student.shape)}.')
        logits = student.float()
        labels = self.labels(data_samples, logits)
        indices = self.indices(data_samples, logits.device)
        previous = self.memory.read(indices, labels)
        loss = -((previous - labels) * F.log_softmax(logits, 1)).sum(1).mean()
        if self.training and torch.is_grad_enabled():
            self.memory.write(indices, logits.detach().softmax(1))
        return self.loss_weight * loss

    @staticmethod
    def labels(data_samples: Sequence, logits: Tensor) -> Tensor:
        """The head's target as class distributions (B, C), as mmpretrain's
        ``ClsHead._get_loss`` takes it."""
        if 'gt_score' in data_samples[0]:
            return torch.stack([d.gt_score for d in data_samples]).to(logits)
        labels = torch.cat([d.gt_label for d in data_samples])
        return F.one_hot(labels.to(logits.device).long(),
                         logits.shape[1]).to(logits)

    @staticmethod
    def indices(data_samples: Sequence, device: torch.device) -> Tensor:
        """The dataset index of every sample (B, )."""
        try:
            idx = [int(d.metainfo['sample_idx']) for d in data_samples]
        except KeyError as e:
            raise KeyError(
                'PSKDLoss needs data_samples[i].metainfo["sample_idx"] (the '
                'dataset index): keep "sample_idx" in the meta_keys of '
                'PackInputs.') from e
        return torch.tensor(idx, dtype=torch.long, device=device)

    @staticmethod
    def check_student(student: nn.Module) -> None:
        """Check that ``student.head``'s loss is the plain cross entropy
        (weight 1) that :math:`L` completes into the official loss.

        Raises:
            ValueError: any other head loss.
        """
        loss = getattr(getattr(student, 'head', None), 'loss_module', None)
        name = type(loss).__name__
        wrong = []
        if name != 'CrossEntropyLoss':
            wrong.append(f'it is {name}')
        else:
            for key, plain in (('use_sigmoid', False), ('loss_weight', 1.0),
                               ('class_weight', None), ('reduction', 'mean')):
                value = getattr(loss, key, plain)
                if value != plain:
                    wrong.append(f'{key}={value!r}')
        if wrong:
            raise ValueError(
                'PSKDLoss completes the student\'s own cross entropy into '
                'the PS-KD target, so student.head.loss must be '
                "dict(type='CrossEntropyLoss', loss_weight=1.0) (softmax, "
                'no class weights, no label smoothing); ' + ', '.join(wrong)
                + '.')

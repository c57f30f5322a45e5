"""Ground-truth class indices for the logit losses that need them."""
from typing import Any, Optional, Sequence

import torch
from torch import Tensor


def class_labels(data_samples: Optional[Sequence[Any]],
                 gt_labels: Optional[Tensor], num: int, loss: str,
                 device: torch.device) -> Tensor:
    """One class index per sample, (num, ) int64 on ``device``.

    ``gt_labels`` (a tensor of indices) wins; otherwise the ``gt_label`` of
    each data sample (mmpretrain's ``DataSample.gt_label``, or an mmcls 0.x
    ``LabelData`` whose ``.label`` holds it).
    """
    if gt_labels is None:
        if data_samples is None:
            raise ValueError(
                f'{loss} needs the ground-truth classes: the data_samples '
                'keyword (DistillModel passes them) or gt_labels.')
        labels = []
        for i, sample in enumerate(data_samples):
            label = getattr(sample, 'gt_label', None)
            label = getattr(label, 'label', label)
            if label is None:
                raise ValueError(
                    f'{loss}: data sample {i} ({type(sample).__name__}) has '
                    'no gt_label (a classification DataSample is expected).')
            label = torch.as_tensor(label).reshape(-1)
            if label.numel() != 1 or label.is_floating_point():
                raise ValueError(
                    f'{loss}: data sample {i} has gt_label {label.tolist()}; '
                    'one class index per sample is needed (multi-label and '
                    'mixed/soft labels are not supported).')
            labels.append(label)
        gt_labels = torch.cat(labels) if labels else torch.zeros(0)
    gt_labels = torch.as_tensor(gt_labels).reshape(-1).long().to(device)
    if gt_labels.numel() != num:
        raise ValueError(f'{loss}: {gt_labels.numel()} labels for {num} '
                         'logit rows.')
    return gt_labels

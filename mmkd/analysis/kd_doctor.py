"""The KD doctor: what each distillation loss does to the student on a batch.

:func:`diagnose` runs one training forward of a set-up
:class:`~mmkd.models.distill_model.DistillModel` on a batch and measures,
for every active distillation loss:

- its value and its ratio to the student's total task (ground-truth) loss;
- the norm of its gradient on the student's *shared* parameters (those the
  task loss reaches too), the task gradient's norm on the same parameters,
  their ratio and the cosine between the two gradients;
- mean, std and share of dead channels of the recorded student and teacher
  tensors and of the connector's output, and for feature maps the peak
  position (the largest mean absolute value over channels against the
  median position's).

It also notes a teacher in train mode, student records with no gradient
path to the student's parameters and losses that are ~0 from the start.

:func:`diagnose_self` does the same for self-distillation inside one model
(D-FINE's GO-LSD): the model names the terms of its loss dict that distil
(``self_distill_losses``), and each is measured against the sum of the
others. :func:`scan_teacher` runs the teacher alone on more samples for
outliers; :func:`find_warnings` turns the numbers into plain-word warnings.

Nothing of the model changes: no optimizer step, no ``.grad`` written
(gradients come from :func:`torch.autograd.grad`), the connectors and loss
modules run as copies, the BatchNorm statistics (all buffers) and module
train/eval flags are put back, and the Python, numpy and torch random
states are restored, so a run with the diagnosis trains bit-identically to
one without.

This module gathers the doctor's parts, one concept each: ``stats``
(recorded tensors), ``probes`` (the gradient probes), ``scan`` (the
teacher scan), ``diagnosis`` (the findings and their report),
``doctor_warnings`` (warnings and their thresholds), ``text_table`` and
``saved_state``.
"""
from .diagnosis import Diagnosis, LossDiagnosis, average
from .doctor_warnings import (COSINE_CONFLICT, DEAD_SHARE, GRAD_RATIO_HIGH,
                              GRAD_RATIO_LOW, IMAGE_RATIO, NEAR_ZERO,
                              PEAK_RATIO, find_warnings)
from .probes import diagnose, diagnose_self
from .scan import scan_teacher, with_scan
from .stats import DEAD_RATIO, TensorStats, tensor_stats

__all__ = [
    'diagnose', 'diagnose_self', 'scan_teacher', 'with_scan',
    'find_warnings', 'average', 'tensor_stats', 'Diagnosis', 'LossDiagnosis',
    'TensorStats', 'GRAD_RATIO_HIGH', 'GRAD_RATIO_LOW', 'NEAR_ZERO',
    'DEAD_RATIO', 'DEAD_SHARE', 'COSINE_CONFLICT', 'PEAK_RATIO', 'IMAGE_RATIO'
]

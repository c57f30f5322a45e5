"""The KD doctor's findings: what one distillation loss does
(:class:`LossDiagnosis`), all of them on one batch (:class:`Diagnosis`,
with its text tables and report) and their mean over batches
(:func:`average`)."""
import math
from dataclasses import dataclass, field, fields, replace
from typing import List, Optional, Sequence

from .doctor_warnings import find_warnings
from .stats import TensorStats
from .text_table import format_number, format_table


@dataclass
class LossDiagnosis:
    """What one distillation loss does to the student.

    Attributes:
        name: The loss's name in ``distill.losses`` (logged as
            ``distill.loss_<name>``).
        type: The loss module's class name.
        weight: Its ``loss_weight``.
        factor: Its schedule factor at this step.
        value: The loss (weight and factor applied).
        task_ratio: ``value`` / the student's task loss (nan without one).
        grad_norm: Norm of its gradient on the shared student parameters
            (all reached parameters without a task loss).
        task_grad_norm: Norm of the task gradient on the same parameters.
        grad_ratio: ``grad_norm / task_grad_norm``.
        cosine: Cosine between the two gradients.
        shared: Number of shared parameter tensors.
        reached: Number of student parameter tensors the loss reaches.
        student_spec, teacher_spec: The recorder specs.
        student, teacher, connector: Statistics of the recorded tensors and
            of the connector's output (None when not a tensor / no
            connector).
        student_grad_path: Whether the student record has a gradient path
            (requires grad).
        identical: Whether the compared student and teacher tensors are
            equal.
        log_key: The logged name, when not ``distill.loss_<name>``
            (self-distillation terms of a model's own loss dict).
        self_distill: A term of a self-distillation DistillModel (its
            targets are the student's own records).
    """
    name: str
    type: str
    weight: float
    factor: float
    value: float
    task_ratio: float
    grad_norm: float
    task_grad_norm: float
    grad_ratio: float
    cosine: float
    shared: int
    reached: int
    student_spec: str
    teacher_spec: str
    student: Optional[TensorStats] = None
    teacher: Optional[TensorStats] = None
    connector: Optional[TensorStats] = None
    student_grad_path: bool = True
    identical: bool = False
    log_key: Optional[str] = None
    self_distill: bool = False

    @property
    def key(self) -> str:
        return self.log_key or f'distill.loss_{self.name}'

    def suggested_weight(self, target: float = 1.0) -> float:
        """The ``loss_weight`` that brings the gradient ratio to
        ``target``: the gradient is proportional to the weight, so
        ``weight * target * task_grad_norm / grad_norm``."""
        if not (self.grad_norm > 0 and math.isfinite(self.task_grad_norm)):
            return float('nan')
        return self.weight * target * self.task_grad_norm / self.grad_norm


@dataclass
class Diagnosis:
    """The doctor's findings on one batch (or averaged over several).

    Attributes:
        task_loss: The student's total task loss (nan without one).
        task_grad_norm: Norm of the task gradient on all student parameters.
        losses: One :class:`LossDiagnosis` per active distillation loss.
        inactive: Losses at weight 0 (not computed).
        teacher_training: Teacher modules in train mode.
        teacher_trainable: Teacher parameters that require grad.
        iters: Number of batches this diagnosis averages.
        metrics: Optional ``{'student': .., 'teacher': .., 'key': ..,
            'images': n}`` from :func:`mmkd.analysis.slice_eval`.
    """
    task_loss: float
    task_grad_norm: float
    losses: List[LossDiagnosis]
    inactive: List[str] = field(default_factory=list)
    teacher_training: List[str] = field(default_factory=list)
    teacher_trainable: List[str] = field(default_factory=list)
    iters: int = 1
    metrics: Optional[dict] = None

    def table(self) -> str:
        """Two text tables, one row per distillation loss: the losses and
        their gradients, then the recorded tensors' statistics."""
        head = ['loss', 'type', 'weight', 'value', 'x task', 'grad',
                'task grad', 'x task grad', 'cosine', 'shared']
        num = format_number
        rows = [[d.key, d.type, f'{d.weight * d.factor:g}', num(d.value),
                 num(d.task_ratio), num(d.grad_norm),
                 num(d.task_grad_norm), num(d.grad_ratio),
                 num(d.cosine, '+.2f'), str(d.shared)] for d in self.losses]
        rows.append(['task (student)', '', '', num(self.task_loss), '1',
                     '', num(self.task_grad_norm), '', '', ''])
        feats = ['loss', 'student', 'mean/std/dead', 'connector out',
                 'teacher', 'mean/std/dead']
        frows = [[d.key, d.student_spec, str(d.student or '-'),
                  str(d.connector or '-'), d.teacher_spec,
                  str(d.teacher or '-')] for d in self.losses]
        over = f' (mean over {self.iters} iterations)' if self.iters > 1 \
            else ''
        text = (f'distillation losses{over}; grad = gradient norm on the '
                'student parameters the task loss also reaches\n' +
                format_table(head, rows))
        if all(d.log_key for d in self.losses):  # self-distillation
            return text
        return (text + '\nrecorded tensors (first batch; dead = share of '
                'channels with std ~0)\n' + format_table(feats, frows))

    def report(self) -> str:
        """The tables, the teacher's metric (if measured) and the
        warnings, as printed by ``tools/analysis/kd_doctor.py``."""
        lines = [self.table()]
        if self.metrics:
            m = self.metrics
            lines.append(f'{m["key"]} on the first {m["images"]} val images: '
                         f'teacher {m["teacher"]:.4f}, student '
                         f'{m["student"]:.4f}')
        warnings = find_warnings(self)
        lines.append(f'{len(warnings)} warning(s)' + (':' if warnings else ''))
        lines += [f'  - {w}' for w in warnings]
        return '\n'.join(lines)


def average(diagnoses: Sequence[Diagnosis]) -> Diagnosis:
    """One :class:`Diagnosis` with the numbers averaged over several
    batches (the tensor statistics and flags of the first, except the
    teacher's peak position: the highest of all batches, an outlier shows in
    some batches only)."""
    first = diagnoses[0]
    if len(diagnoses) == 1:
        return first

    def mean(values: List[float]) -> float:
        return sum(values) / len(values)

    losses = []
    for i, d in enumerate(first.losses):
        same = [x.losses[i] for x in diagnoses if len(x.losses) > i
                and x.losses[i].name == d.name]
        numbers = {f.name: mean([getattr(x, f.name) for x in same])
                   for f in fields(LossDiagnosis)
                   if f.name in ('value', 'task_ratio', 'grad_norm',
                                 'task_grad_norm', 'grad_ratio', 'cosine')}
        peaks = [x.teacher for x in same if x.teacher is not None
                 and not math.isnan(x.teacher.peak)]
        if peaks:
            top = max(peaks, key=lambda stats: stats.peak)
            numbers['teacher'] = replace(d.teacher, peak=top.peak,
                                         peak_at=top.peak_at,
                                         peak_image=top.peak_image,
                                         peak_where=top.peak_where)
        losses.append(replace(d, **numbers))
    return replace(first, losses=losses, iters=len(diagnoses),
                   task_loss=mean([d.task_loss for d in diagnoses]),
                   task_grad_norm=mean([d.task_grad_norm for d in diagnoses]))

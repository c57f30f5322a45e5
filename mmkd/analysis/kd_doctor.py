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
others.
:func:`find_warnings` turns the numbers into plain-word warnings.

Nothing of the model changes: no optimizer step, no ``.grad`` written
(gradients come from :func:`torch.autograd.grad`), the connectors and loss
modules run as copies, the BatchNorm statistics (all buffers) and module
train/eval flags are put back, and the Python, numpy and torch random
states are restored, so a run with the diagnosis trains bit-identically to
one without.
"""
import copy
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Iterable, List, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.engine.rng_state_hook import get_rng_state, set_rng_state
from mmkd.models.distill_model import DistillModel, _copy_inputs

# A gradient ratio above HIGH (or below LOW) is warned about.
GRAD_RATIO_HIGH = 10.0
GRAD_RATIO_LOW = 0.01
# A loss below NEAR_ZERO x the task loss (or absolutely) is "~0".
NEAR_ZERO = 1e-6
# A channel is dead when its std is below DEAD_RATIO x its abs-max (or its
# abs-max is 0): it carries the same value everywhere.
DEAD_RATIO = 1e-4
# Warn when more than this share of a recorded tensor's channels is dead.
DEAD_SHARE = 0.5
# Warn when the cosine between a loss's and the task's gradient is below.
COSINE_CONFLICT = -0.3
# Warn when one position of a teacher feature map (mean |value| over
# channels) is more than this many times the median position.
PEAK_RATIO = 20.0
# ... and call it a sample out of scale (not one position) when that
# sample's median position is above this times the batch's.
IMAGE_RATIO = 5.0


@dataclass
class TensorStats:
    """Statistics of one recorded tensor (channels along dim 1).

    Attributes:
        shape: The tensor's shape.
        mean: Mean over all elements.
        std: Standard deviation over all elements.
        dead: Share of channels whose std is ~0 relative to their abs-max.
        peak: For a feature map (N, C, H, W): the largest mean absolute
            value over channels at one position, divided by the median
            position's (nan for other tensors).
        peak_at: Where that position is: (sample, row, column).
        peak_image: The median position of that sample divided by the
            batch's median position: large when the sample's whole map is
            out of scale, not one position of it.
        peak_where: What the sample index of ``peak_at`` counts.
    """
    shape: tuple
    mean: float
    std: float
    dead: float
    peak: float = float('nan')
    peak_at: tuple = ()
    peak_image: float = float('nan')
    peak_where: str = 'of its batch'

    def __str__(self) -> str:
        return f'{self.mean:+.3g}/{self.std:.3g}/{self.dead:.0%}'


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
        rows = [[d.key, d.type, f'{d.weight * d.factor:g}', _num(d.value),
                 _num(d.task_ratio), _num(d.grad_norm),
                 _num(d.task_grad_norm), _num(d.grad_ratio),
                 _num(d.cosine, '+.2f'), str(d.shared)] for d in self.losses]
        rows.append(['task (student)', '', '', _num(self.task_loss), '1',
                     '', _num(self.task_grad_norm), '', '', ''])
        feats = ['loss', 'student', 'mean/std/dead', 'connector out',
                 'teacher', 'mean/std/dead']
        frows = [[d.key, d.student_spec, str(d.student or '-'),
                  str(d.connector or '-'), d.teacher_spec,
                  str(d.teacher or '-')] for d in self.losses]
        over = f' (mean over {self.iters} iterations)' if self.iters > 1 \
            else ''
        text = (f'distillation losses{over}; grad = gradient norm on the '
                'student parameters the task loss also reaches\n' +
                _format(head, rows))
        if all(d.log_key for d in self.losses):  # self-distillation
            return text
        return (text + '\nrecorded tensors (first batch; dead = share of '
                'channels with std ~0)\n' + _format(feats, frows))

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


def _num(x: float, spec: str = '.3g') -> str:
    return '-' if x is None or (isinstance(x, float) and math.isnan(x)) \
        else format(x, spec)


def _format(head: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: '| ' + ' | '.join(  # noqa: E731
        c.ljust(w) for c, w in zip(r, widths)) + ' |'
    return '\n'.join([line(head), line(['-' * w for w in widths])] +
                     [line(r) for r in rows])


# ------------------------------------------------------------------ stats
def _first_tensor(x: Any) -> Optional[Tensor]:
    """The tensor a loss compares: ``x`` itself, or the first tensor of a
    tuple/list record (a spec group's feature, a module's first output)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def tensor_stats(x: Any) -> Optional[TensorStats]:
    """Mean, std and share of dead channels (dim 1) of the first tensor of
    ``x``; None when ``x`` holds no floating tensor."""
    t = _first_tensor(x)
    if t is None or not t.is_floating_point() or t.numel() == 0:
        return None
    t = t.detach().float()
    if t.dim() >= 2:
        per_channel = t.transpose(0, 1).reshape(t.shape[1], -1)
    else:
        per_channel = t.reshape(1, -1)
    std_c = per_channel.std(1, unbiased=False)
    max_c = per_channel.abs().amax(1)
    dead = (max_c == 0) | (std_c <= DEAD_RATIO * max_c)
    peak, peak_at, peak_image = float('nan'), (), float('nan')
    if t.dim() == 4 and t.shape[2] * t.shape[3] > 1:
        magnitude = t.abs().mean(1)  # (N, H, W)

        def occupied_median(m: Tensor) -> float:
            # a scattered pillar map is mostly 0
            m = m[m > 0]
            return float(m.median()) if m.numel() else 0.0

        median = occupied_median(magnitude)
        top = int(magnitude.argmax())
        peak = _ratio(float(magnitude.flatten()[top]), median)
        n_i, rest = divmod(top, t.shape[2] * t.shape[3])
        peak_at = (n_i, *divmod(rest, t.shape[3]))
        peak_image = _ratio(occupied_median(magnitude[n_i]), median)
    return TensorStats(tuple(t.shape), float(t.mean()),
                       float(t.std(unbiased=False)),
                       float(dead.float().mean()), peak, peak_at, peak_image)


def _requires_grad(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.requires_grad
    if isinstance(x, (list, tuple)):
        return any(_requires_grad(v) for v in x)
    return False


# --------------------------------------------------------------- diagnose
class _SavedState:
    """RNG states, buffers and module train flags of a model, put back by
    :meth:`restore`."""

    def __init__(self, model: nn.Module) -> None:
        self.rng = get_rng_state()
        self.buffers = [(b, b.detach().clone()) for b in model.buffers()]
        self.modes = [(m, m.training) for m in model.modules()]

    def restore(self) -> None:
        with torch.no_grad():
            for buffer, value in self.buffers:
                buffer.copy_(value)
        for module, mode in self.modes:
            module.training = mode
        set_rng_state(self.rng)


def _grads(loss: Tensor, params: Sequence[Tensor]) -> List[Optional[Tensor]]:
    if not isinstance(loss, Tensor) or not loss.requires_grad:
        return [None] * len(params)
    return list(torch.autograd.grad(loss, params, retain_graph=True,
                                    allow_unused=True))


def _norm_dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> tuple:
    na = math.sqrt(sum(float(x.double().pow(2).sum()) for x in a))
    nb = math.sqrt(sum(float(x.double().pow(2).sum()) for x in b))
    dot = sum(float((x.double() * y.double()).sum()) for x, y in zip(a, b))
    return na, nb, dot


def _task_gradient(task: Optional[Tensor], params: Sequence[Tensor]
                   ) -> tuple:
    """The task loss's gradient on ``params`` (None where it does not
    reach), its norm and the loss value (nan without a task loss)."""
    if task is None:
        return [None] * len(params), float('nan'), float('nan')
    grads = _grads(task, params)
    norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads
                         if g is not None))
    return grads, norm, float(task.detach())


def diagnose(model: DistillModel, data_batch: Any,
             train_mode: bool = True) -> Diagnosis:
    """Measure what each active distillation loss does on ``data_batch``.

    Args:
        model: A set-up :class:`DistillModel` (``DistillRunner.train`` sets
            it up).
        data_batch: A raw batch from the training data loader (before the
            data preprocessor).
        train_mode: Put the model in train mode first, as the training loop
            does (DistillModel keeps the teacher in eval). False: diagnose
            the modes as they are.

    Returns:
        The :class:`Diagnosis`. The model's state is unchanged afterwards
        (see the module docstring).
    """
    if not model.is_setup or model.teacher is None:
        raise RuntimeError('diagnose() needs a set-up DistillModel (call '
                           'DistillModel.setup or train with DistillRunner).')
    saved = _SavedState(model)
    try:
        if train_mode:
            model.train()
        return _diagnose(model, data_batch)
    finally:
        for recorder in (model.student_recorder, model.teacher_recorder):
            recorder.stop()
            recorder.records = {}  # drop the graph
        saved.restore()


def _diagnose(model: DistillModel, data_batch: Any) -> Diagnosis:
    teacher = model.teacher
    teacher_training = [n or '(root)' for n, m in teacher.named_modules()
                        if m.training]
    teacher_trainable = [n for n, p in teacher.named_parameters()
                         if p.requires_grad]
    active = model.active_losses()
    inactive = [n for n in model.loss_cfgs if n not in active]
    # copies: the preprocessor's batch augmentations, the connectors' BN and
    # the losses' own state (MGD's masks ...) are not touched
    connectors = copy.deepcopy(model.connectors)
    loss_modules = copy.deepcopy(model.distill_losses)
    teacher_data = model._teacher_data(data_batch)
    data = copy.deepcopy(model.module.data_preprocessor)(data_batch, True)
    if active:
        teacher_data = teacher_data or dict(
            data, inputs=_copy_inputs(data['inputs']))
        model._run_teacher(teacher_data['inputs'],
                           teacher_data['data_samples'])
    task_losses = model._run_student(data['inputs'], data['data_samples'])
    task = model.module.parse_losses(task_losses)[0] if task_losses else None

    params = [p for p in model.module.parameters() if p.requires_grad]
    task_grads, task_norm, task_value = _task_gradient(task, params)

    results = []
    for name in active:
        raw, student, t_out = model.loss_inputs(name, connectors)
        kwargs = {}
        if name in model.wants_data_samples:
            kwargs['data_samples'] = data['data_samples']
        loss = loss_modules[name](student, t_out, **kwargs) * \
            model.loss_factors[name]
        grads = _grads(loss, params)
        reached = [i for i, g in enumerate(grads) if g is not None]
        shared = [i for i in reached if task_grads[i] is not None]
        if task is None:
            g_norm, t_norm, dot = _norm_dot([grads[i] for i in reached], [])
            t_norm = dot = float('nan')
        else:
            g_norm, t_norm, dot = _norm_dot([grads[i] for i in shared],
                                            [task_grads[i] for i in shared])
        value = float(loss.detach().float().sum())
        cfg = model.loss_cfgs[name]
        weight = getattr(model.distill_losses[name], 'loss_weight',
                         cfg.get('loss_weight', 1.0))
        identical = (isinstance(student, Tensor) and isinstance(t_out, Tensor)
                     and student.shape == t_out.shape
                     and torch.equal(student.detach().float(), t_out))
        results.append(LossDiagnosis(
            name=name, type=type(model.distill_losses[name]).__name__,
            weight=float(weight), factor=float(model.loss_factors[name]),
            value=value,
            task_ratio=value / task_value if task_value else float('nan'),
            grad_norm=g_norm, task_grad_norm=t_norm,
            grad_ratio=_ratio(g_norm, t_norm),
            cosine=dot / (g_norm * t_norm) if g_norm and t_norm
            else float('nan'),
            shared=len(shared), reached=len(reached),
            student_spec=str(model.student_specs[name]),
            teacher_spec=str(model.teacher_specs[name]),
            student=tensor_stats(raw), teacher=tensor_stats(t_out),
            connector=tensor_stats(student) if name in connectors else None,
            student_grad_path=_requires_grad(raw), identical=identical))
    return Diagnosis(task_loss=task_value, task_grad_norm=task_norm,
                     losses=results, inactive=inactive,
                     teacher_training=teacher_training,
                     teacher_trainable=teacher_trainable)


def scan_teacher(model: DistillModel, data_batches: Iterable[Any]
                 ) -> Dict[str, TensorStats]:
    """Run the teacher alone on each raw batch of ``data_batches`` (as
    training feeds it) and keep, per active loss, the statistics of the
    batch whose recorded teacher map has the highest peak, its sample index
    counted over all scanned samples. A cheap look at more images than one
    batch: a teacher whose features blow up on a few images shows."""
    if not model.is_setup or model.teacher is None:
        raise RuntimeError('scan_teacher() needs a set-up DistillModel.')
    active = model.active_losses()
    best: Dict[str, TensorStats] = {}
    seen = 0
    saved = _SavedState(model)
    try:
        for batch in data_batches:
            data = model._teacher_data(batch) or copy.deepcopy(
                model.module.data_preprocessor)(batch, True)
            model._run_teacher(data['inputs'], data['data_samples'])
            size = 0
            for name in active:
                t = _first_tensor(
                    model.teacher_recorder.get(model.teacher_specs[name]))
                stats = tensor_stats(t)
                if t is None or stats is None:
                    continue
                size = t.shape[0]
                if not math.isnan(stats.peak) and (
                        name not in best or stats.peak > best[name].peak):
                    best[name] = replace(
                        stats, peak_at=(seen + stats.peak_at[0],
                                        *stats.peak_at[1:]))
            seen += size
            model.teacher_recorder.records = {}
    finally:
        model.teacher_recorder.stop()
        model.teacher_recorder.records = {}
        saved.restore()
    for name, stats in best.items():
        best[name] = replace(
            stats, peak_where=f'of the first {seen} training samples')
    return best


def with_scan(diagnosis: Diagnosis,
              scanned: Dict[str, TensorStats]) -> Diagnosis:
    """``diagnosis`` with each loss's teacher peak replaced by the scan's
    (:func:`scan_teacher`) where the scan found a higher one."""
    losses = []
    for d in diagnosis.losses:
        top = scanned.get(d.name)
        if d.teacher is not None and top is not None and not (
                top.peak <= d.teacher.peak):
            d = replace(d, teacher=replace(
                d.teacher, peak=top.peak, peak_at=top.peak_at,
                peak_image=top.peak_image, peak_where=top.peak_where))
        losses.append(d)
    return replace(diagnosis, losses=losses)


def diagnose_self(model: nn.Module, data_batch: Any,
                  train_mode: bool = True) -> Diagnosis:
    """Measure what each self-distillation term of a model's own loss dict
    does on ``data_batch``, against the sum of the other (task) terms.

    The model declares its terms as ``self_distill_losses``: a dict from a
    loss-dict key suffix to the path of the loss module that holds its
    ``loss_weight``, e.g. D-FINE's ``{'loss_ddf': 'bbox_head.loss_ddf'}``
    (keys ``d0.loss_ddf``, ``d0.dn_loss_ddf`` ...: the last decoder layer
    distilled into each earlier one). One row per such key. Nothing of the
    model changes (see the module docstring).

    Args:
        model: The model, e.g. mmkd's ``DFineDINO``.
        data_batch: A raw batch from the training data loader.
        train_mode: Put the model in train mode first (False: as it is).

    Returns:
        The :class:`Diagnosis` (no teacher: its teacher fields are empty and
        each row's tensor statistics None).
    """
    spec = getattr(model, 'self_distill_losses', None)
    if not spec:
        raise ValueError(
            f'{type(model).__name__} declares no self-distillation losses '
            '(`self_distill_losses`), and it is not a DistillModel: there is '
            'nothing for the KD doctor to diagnose.')
    saved = _SavedState(model)
    try:
        if train_mode:
            model.train()
        data = copy.deepcopy(model.data_preprocessor)(data_batch, True)
        losses = model(**data, mode='loss')
        return _diagnose_self(model, losses, spec)
    finally:
        saved.restore()


def _diagnose_self(model: nn.Module, losses: dict, spec: dict) -> Diagnosis:
    rows = {k: suffix for k, v in losses.items() for suffix in spec
            if k.endswith(suffix)}
    task_terms = {k: v for k, v in losses.items() if k not in rows}
    task = model.parse_losses(task_terms)[0] if task_terms else None
    params = [p for p in model.parameters() if p.requires_grad]
    task_grads, task_norm, task_value = _task_gradient(task, params)
    results = []
    for key, suffix in rows.items():
        loss = losses[key]
        loss = sum(loss) if isinstance(loss, (list, tuple)) else loss
        grads = _grads(loss, params)
        reached = [i for i, g in enumerate(grads) if g is not None]
        shared = [i for i in reached if task_grads[i] is not None]
        g_norm, t_norm, dot = _norm_dot([grads[i] for i in shared],
                                        [task_grads[i] for i in shared])
        module = model
        for name in spec[suffix].split('.'):
            module = getattr(module, name)
        value = float(loss.detach().float().sum())
        results.append(LossDiagnosis(
            name=key, type=type(module).__name__,
            weight=float(getattr(module, 'loss_weight', 1.0)), factor=1.0,
            value=value,
            task_ratio=value / task_value if task_value else float('nan'),
            grad_norm=g_norm, task_grad_norm=t_norm,
            grad_ratio=_ratio(g_norm, t_norm),
            cosine=dot / (g_norm * t_norm) if g_norm and t_norm
            else float('nan'),
            shared=len(shared), reached=len(reached),
            student_spec='(self)', teacher_spec='(self)',
            student_grad_path=_requires_grad(loss), log_key=key))
    return Diagnosis(task_loss=task_value, task_grad_norm=task_norm,
                     losses=results)


def _ratio(a: float, b: float) -> float:
    """``a / b``; inf when only ``b`` is 0, nan when both are."""
    if b == 0 or not math.isfinite(b):
        return float('inf') if b == 0 and a > 0 else float('nan')
    return a / b


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


# --------------------------------------------------------------- warnings
def find_warnings(diagnosis: Diagnosis) -> List[str]:
    """Plain-word warnings, each with the number behind it."""
    out = []
    if diagnosis.teacher_training:
        names = diagnosis.teacher_training
        out.append(
            f'the teacher is in train mode ({len(names)} modules, e.g. '
            f'{names[:3]}): its BatchNorm statistics drift and its features '
            'change from batch to batch. Keep it in eval mode (DistillModel.'
            'train() does; something switched it back).')
    if diagnosis.teacher_trainable:
        out.append(
            f'{len(diagnosis.teacher_trainable)} teacher parameters require '
            f'grad (e.g. {diagnosis.teacher_trainable[:3]}): the teacher '
            'should be frozen.')
    for d in diagnosis.losses:
        out += _loss_warnings(d, diagnosis)
    m = diagnosis.metrics
    if m:
        where = f'{m["key"]} on the first {m["images"]} val images'
        if m['teacher'] < 0.01:
            out.append(
                f'the teacher scores {m["teacher"]:.4f} {where}: it looks '
                'untrained (is distill.teacher.checkpoint the trained '
                'weights, for this data and these classes?).')
        elif m['teacher'] <= m['student']:
            out.append(
                f'the teacher ({m["teacher"]:.4f}) is not better than the '
                f'student ({m["student"]:.4f}), {where}: there is little to '
                'distil. Use a stronger (larger or longer-trained) teacher.')
    return out


def _loss_warnings(d: LossDiagnosis, diagnosis: Diagnosis) -> List[str]:
    key, out = d.key, []
    if not math.isfinite(d.value):
        return [f'{key} is {d.value} on this batch.']
    if not d.student_grad_path or d.reached == 0:
        why = ('the student tensor at ' + d.student_spec +
               ' does not require grad (recorded in a frozen part, under '
               'no_grad, or detached)') if not d.student_grad_path else (
            'its gradient reaches none of the student\'s parameters')
        out.append(f'{key}: {why}; this loss cannot train the student '
                   f'({d.reached} student parameters reached).')
    task = diagnosis.task_loss
    if abs(d.value) <= NEAR_ZERO * (abs(task) if math.isfinite(task)
                                    else 1.0) or abs(d.value) < 1e-12:
        if d.log_key:  # self-distillation (e.g. D-FINE's DDF)
            why = ('the parts of the model it compares still agree (a '
                   'self-distillation term starts at ~0 when they start '
                   'alike, e.g. zero-initialised refinement branches, and '
                   'grows as they diverge)')
        elif d.identical:
            why = ("the student's and the teacher's tensors are identical "
                   '(is the teacher the student, with the same weights?)')
        elif d.teacher is not None and d.teacher.std == 0:
            why = f'the teacher\'s {d.teacher_spec} is constant (std 0)'
        elif d.student is not None and d.student.std == 0:
            why = f'the student\'s {d.student_spec} is constant (std 0)'
        else:
            why = 'the student already matches the teacher there'
        out.append(f'{key} is {d.value:.3g} at the start ({_num(d.task_ratio)}'
                   f' of the task loss): {why}. It teaches nothing.')
    elif d.grad_ratio == float('inf'):
        out.append(
            f'{key}: the task loss gives the {d.shared} student parameter '
            'tensors this loss reaches no gradient at all (norm 0) on this '
            f'batch, the loss gives them {d.grad_norm:.3g}: distillation '
            'alone drives them (a zero or constant initialised head?).')
    elif d.grad_ratio > GRAD_RATIO_HIGH:
        out.append(
            f'{key}: gradient {d.grad_ratio:.0f}x the task gradient (norm '
            f'{d.grad_norm:.3g} vs {d.task_grad_norm:.3g} on the {d.shared} '
            'student parameter tensors both reach; the loss is '
            f'{_num(d.task_ratio)}x the task loss); the student will follow '
            "the teacher's features before learning its task. Lower "
            f'loss_weight from {d.weight:g} to about '
            f'{d.suggested_weight():.2g} ({d.weight:g} x '
            f'{d.task_grad_norm:.3g} / {d.grad_norm:.3g}, which makes the '
            'two gradients equal in norm).')
    elif d.grad_ratio < GRAD_RATIO_LOW:
        out.append(
            f'{key}: gradient {d.grad_ratio:.2g}x the task gradient (norm '
            f'{d.grad_norm:.3g} vs {d.task_grad_norm:.3g}): it barely moves '
            f'the student. Raise loss_weight from {d.weight:g} to about '
            f'{d.suggested_weight(0.1):.2g} (a tenth of the task gradient) '
            f'to {d.suggested_weight():.2g} (equal norms).')
    if d.cosine < COSINE_CONFLICT:
        out.append(
            f'{key}: its gradient points against the task\'s (cosine '
            f'{d.cosine:+.2f}): the two pull the shared parameters in '
            'opposite directions.')
    t = d.teacher
    if t is not None and t.peak > PEAK_RATIO:
        where = (f"the teacher's {d.teacher_spec} {list(t.shape)} (sample "
                 f'{t.peak_at[0]} {t.peak_where}')
        dominated = (
            'A loss that compares raw values (MSE, MGD, FGD) is dominated '
            'by it, and an attention taken from the teacher (FGD, CWD) puts '
            'its weight there. A loss that normalises each channel (PKD) is '
            'less affected')
        if t.peak_image > IMAGE_RATIO:
            out.append(
                f'{key}: the whole map of {where}) is out of scale: its '
                f'median position is {t.peak_image:.0f}x the batch\'s median '
                f'position, its highest (row {t.peak_at[1]}, column '
                f'{t.peak_at[2]}) {t.peak:.0f}x: the teacher\'s features '
                f'blow up on that image. {dominated}.')
        else:
            out.append(
                f'{key}: one position of {where}, row {t.peak_at[1]}, column '
                f'{t.peak_at[2]}) is {t.peak:.0f}x the median position (mean '
                '|value| over channels): an outlier activation of the '
                f'teacher. {dominated}; such outliers often sit at an image '
                'border or in padding.')
    for who, stats, spec in (('teacher', d.teacher, d.teacher_spec),
                             ('student', d.student, d.student_spec)):
        if stats is not None and stats.dead > DEAD_SHARE:
            out.append(
                f'{key}: {stats.dead:.0%} of the {who}\'s channels at {spec} '
                f'{list(stats.shape)} are dead (constant over the batch): '
                'the loss compares nothing there.')
    return out

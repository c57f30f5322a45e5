"""The KD doctor's gradient probes: one training forward of a model and,
per distillation loss, the gradient it gives the student's parameters
against the task loss's (norms, ratio, cosine) and the statistics of the
tensors it compares.

:func:`diagnose` probes the losses of a set-up
:class:`~mmkd.models.distill_model.DistillModel`; :func:`diagnose_self`
the self-distillation terms a model names in its own loss dict (D-FINE's
GO-LSD). Gradients come from :func:`torch.autograd.grad` (no ``.grad``
written, no optimizer step), connectors and loss modules run as copies and
:class:`~mmkd.analysis.saved_state.SavedState` puts the rest back.
"""
import copy
import math
from typing import Any, List, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.models.distill_model import DistillModel, _copy_inputs
from .diagnosis import Diagnosis, LossDiagnosis
from .saved_state import SavedState
from .stats import requires_grad, safe_ratio, tensor_stats


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
    if not model.is_setup or (model.teacher is None
                              and not model.self_distill):
        raise RuntimeError('diagnose() needs a set-up DistillModel (call '
                           'DistillModel.setup or train with DistillRunner).')
    saved = SavedState(model)
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
    teacher_training = [] if teacher is None else [  # self-distillation
        n or '(root)' for n, m in teacher.named_modules() if m.training]
    teacher_trainable = [] if teacher is None else [
        n for n, p in teacher.named_parameters() if p.requires_grad]
    active = model.active_losses()
    inactive = [n for n in model.loss_cfgs if n not in active]
    # copies: the preprocessor's batch augmentations, the connectors' BN and
    # the losses' own state (MGD's masks ...) are not touched
    connectors = copy.deepcopy(model.connectors)
    loss_modules = copy.deepcopy(model.distill_losses)
    teacher_data = model._teacher_data(data_batch)
    data = copy.deepcopy(model.module.data_preprocessor)(data_batch, True)
    if active and model.teacher is not None:
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
            grad_ratio=safe_ratio(g_norm, t_norm),
            cosine=dot / (g_norm * t_norm) if g_norm and t_norm
            else float('nan'),
            shared=len(shared), reached=len(reached),
            student_spec=str(model.student_specs[name]),
            teacher_spec=str(model.teacher_specs[name]),
            student=tensor_stats(raw), teacher=tensor_stats(t_out),
            connector=tensor_stats(student) if name in connectors else None,
            student_grad_path=requires_grad(raw), identical=identical,
            self_distill=model.self_distill))
    return Diagnosis(task_loss=task_value, task_grad_norm=task_norm,
                     losses=results, inactive=inactive,
                     teacher_training=teacher_training,
                     teacher_trainable=teacher_trainable)


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
    saved = SavedState(model)
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
            grad_ratio=safe_ratio(g_norm, t_norm),
            cosine=dot / (g_norm * t_norm) if g_norm and t_norm
            else float('nan'),
            shared=len(shared), reached=len(reached),
            student_spec='(self)', teacher_spec='(self)',
            student_grad_path=requires_grad(loss), log_key=key))
    return Diagnosis(task_loss=task_value, task_grad_norm=task_norm,
                     losses=results)

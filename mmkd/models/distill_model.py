"""The distillation wrapper around any OpenMMLab student model."""
import contextlib
import copy
import inspect
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import print_log
from mmengine.model import BaseModel, revert_sync_batchnorm
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import Tensor

from mmkd.registry import MODEL_WRAPPERS, MODELS
from .connectors import resize_like
from .loss_builder import build_connector, build_loss, check_loss_cfgs
from .recorder import ModuleRecorder, RecordSpec, StopForward, find_module
from .teacher import build_teacher, load_state_dict_from

_AUTOCAST = dict(bf16=torch.bfloat16, fp16=torch.float16)


class DistillLossError(FloatingPointError):
    """A distillation loss became NaN or Inf."""

    def __init__(self, loss_name: str, message: str) -> None:
        super().__init__(message)
        self.loss_name = loss_name


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f'Tensor{tuple(x.shape)}'
    if isinstance(x, (list, tuple)):
        return f'{type(x).__name__}[{", ".join(_describe(v) for v in x)}]'
    return type(x).__name__


def _fp32(x: Any) -> Any:
    """``x`` with fp16/bf16 tensors (an autocast teacher's) in fp32."""
    if isinstance(x, Tensor):
        return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    if isinstance(x, (list, tuple)):
        return type(x)(_fp32(v) for v in x)
    return x


def _detach(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.detach()
    if isinstance(x, (list, tuple)):
        return type(x)(_detach(v) for v in x)
    return x


def _copy_inputs(inputs: Any) -> Any:
    """The batch for the teacher. An image tensor is shared (no copy); the
    tensors of dict inputs (point clouds, voxels) are copied, because
    mmdet3d's PillarFeatureNet overwrites the voxel coordinates in place,
    which must not reach the other model."""
    def copy(x: Any) -> Any:
        if isinstance(x, Tensor):
            return x.clone()
        if isinstance(x, dict):
            return type(x)({k: copy(v) for k, v in x.items()})
        if isinstance(x, (list, tuple)):
            return type(x)(copy(v) for v in x)
        return x

    return copy(inputs) if isinstance(inputs, dict) else inputs


def _preprocessing_differences(student: nn.Module,
                               teacher: nn.Module) -> List[str]:
    """The settings (mean, std, channel conversion, padding ...) in which
    two data preprocessors differ; empty when they do the same."""
    if type(student) is not type(teacher):
        return [f'type ({type(teacher).__name__})']
    t_buffers = dict(teacher.named_buffers())
    diffs = [k for k, v in student.named_buffers()
             if k not in t_buffers or v.shape != t_buffers[k].shape
             or not torch.equal(v, t_buffers[k].to(v.device))]
    diffs += [k for k in t_buffers if k not in dict(student.named_buffers())]
    module_state = set(vars(nn.Module())) | {'_device', '_non_blocking'}
    t_vars = vars(teacher)
    for key, value in vars(student).items():
        if key not in module_state and repr(value) != repr(t_vars.get(key)):
            diffs.append(key.lstrip('_'))
    if repr(student._modules) != repr(teacher._modules):
        diffs += [k for k in {**student._modules, **teacher._modules}
                  if repr(student._modules.get(k)) !=
                  repr(teacher._modules.get(k))]
    return diffs


@MODEL_WRAPPERS.register_module()
@MODELS.register_module()
class DistillModel(BaseModel):
    """Wraps a student model and adds distillation losses from a teacher.

    The student is ``self.module`` so mmengine treats this class as a model
    wrapper: checkpoints hold only the student's keys (they load into the
    plain student config), ``init_weights``, EMA and the optimizer see only
    the student. The teacher, connectors and distillation losses are built
    by :meth:`setup` when training starts (:class:`DistillRunner` calls it),
    never for testing.

    Args:
        student (dict | nn.Module): The student model config (the user's
            unchanged ``model``).
        teacher (dict, optional): ``dict(config=..., checkpoint=...,
            cfg_options=None, autocast=None)``; ``autocast='bf16'`` or
            ``'fp16'`` runs the teacher's forward under ``torch.autocast``
            on its device (the losses stay in fp32).
        losses (dict): name -> loss config with ``type``, ``student`` and
            ``teacher`` recorder specs, optional ``connector`` ('auto',
            None or a config) and the loss's own arguments.
        student_gt_loss (bool): Keep the student's own (ground-truth) losses.
            If False the student runs in ``mode='tensor'`` and only the
            distillation losses train it. Defaults to True.
        freeze (Sequence[str]): Student module paths whose parameters are
            frozen and which stay in eval mode.
        student_init (dict, optional): ``dict(checkpoint=..., prefixes=[...])``
            loads these parts of the student after ``init_weights``.
        self_distill (bool): Self-distillation: no teacher is built (leave
            ``teacher`` None); each loss's ``teacher`` spec names a module
            of the student itself, recorded in the same forward and
            detached (the target), or is None (the loss gets None). The
            recipe's own modules (exits, heads, memories) are connectors
            or loss modules: saved under ``distill_state``, never in the
            student's keys.
    """
    # Set by DistillRunner in distributed training (mmkd.engine.distributed):
    # the DDP wrapper of the trainable parts, not a submodule, and the
    # parameters that no loss reaches.
    ddp: Optional[nn.Module] = None
    ddp_unreached: Sequence[nn.Parameter] = ()

    def __init__(self,
                 student: Union[dict, nn.Module],
                 teacher: Optional[dict] = None,
                 losses: Optional[Dict[str, dict]] = None,
                 student_gt_loss: bool = True,
                 freeze: Sequence[str] = (),
                 student_init: Optional[dict] = None,
                 self_distill: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(student, dict):
            student = MMENGINE_MODELS.build(student)
        super().__init__(data_preprocessor=student.data_preprocessor,
                         init_cfg=init_cfg)
        self.module = student
        self.teacher_cfg = teacher
        autocast = (teacher or {}).get('autocast')
        if autocast is not None and autocast not in _AUTOCAST:
            raise ValueError(f'distill.teacher.autocast must be None, '
                             f"'bf16' or 'fp16', got {autocast!r}.")
        self.student_gt_loss = student_gt_loss
        self.student_init = student_init
        self.self_distill = self_distill
        if self_distill and teacher is not None:
            raise ValueError('distill.self_distill=True takes no teacher: '
                             'remove distill.teacher (or set it to None).')
        if losses and teacher is None and not self_distill:
            raise ValueError(
                'distill.losses are given but distill.teacher is not: set '
                'teacher=dict(config=..., checkpoint=...), or '
                'self_distill=True for losses on the student itself.')
        self._built = False
        self.teacher: Optional[nn.Module] = None
        self.connectors = nn.ModuleDict()
        self.distill_losses = nn.ModuleDict()
        self.wants_data_samples = set()  # losses that take the GT samples

        self.loss_cfgs = check_loss_cfgs(losses or {}, teacher is not None)
        self.loss_factors: Dict[str, float] = {n: 1.0 for n in self.loss_cfgs}
        self.student_specs = {
            n: RecordSpec.parse(c['student']) for n, c in self.loss_cfgs.items()}
        self.teacher_specs = {
            n: None if c['teacher'] is None else RecordSpec.parse(c['teacher'])
            for n, c in self.loss_cfgs.items()}
        own_targets = [s for s in self.teacher_specs.values()
                       if s is not None] if self_distill else []
        self.student_recorder = ModuleRecorder(
            self.module, list(self.student_specs.values()) + own_targets,
            'student')
        # self-distillation: the student's recorder records the targets too
        self.teacher_recorder: Optional[ModuleRecorder] = (
            self.student_recorder if self_distill else None)
        # what differs in the teacher's data_preprocessor (set up in setup)
        self.teacher_preprocessing: List[str] = []

        self.frozen = [find_module(self.module, p, 'student') for p in freeze]
        for module in self.frozen:
            module.requires_grad_(False)

    # ------------------------------------------------------------------ build
    @property
    def distill_modules(self) -> nn.ModuleDict:
        """Trainable distillation parts (connectors and losses), saved in
        checkpoints under ``distill_state`` rather than the student's keys."""
        return nn.ModuleDict(dict(connectors=self.connectors,
                                  losses=self.distill_losses))

    @property
    def is_setup(self) -> bool:
        return self._built or not self.loss_cfgs

    def setup(self, data_batch: Any) -> None:
        """Build the teacher, probe shapes on ``data_batch`` and build the
        connectors and losses. Every configuration error surfaces here,
        before the first training iteration."""
        if self.is_setup:
            return
        if self.self_distill:
            self._setup_losses(data_batch)
            return
        cfg = self.teacher_cfg
        if not isinstance(cfg, dict) or cfg.get('config') is None:
            raise ValueError(
                'distill.teacher.config is not set: name the teacher in your '
                'config, e.g.\n  distill = dict(teacher=dict(config='
                "'mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py', "
                "checkpoint='work_dirs/rtmdet_s/epoch_300.pth'))")
        device = next(self.module.parameters()).device
        teacher = build_teacher(cfg['config'], cfg.get('checkpoint'),
                                cfg.get('cfg_options')).to(device)
        recorder = ModuleRecorder(teacher, list(self.teacher_specs.values()),
                                  'teacher')
        self.teacher = teacher
        self.teacher_recorder = recorder

        self.teacher_preprocessing = _preprocessing_differences(
            self.module.data_preprocessor, teacher.data_preprocessor)
        print_log(
            'mmkd: the teacher preprocesses the batch itself (its '
            "data_preprocessor's " + ', '.join(self.teacher_preprocessing) +
            " differ from the student's)" if self.teacher_preprocessing else
            "mmkd: the teacher gets the student's preprocessed batch (same "
            'data_preprocessor settings)', logger='current')
        self._setup_losses(data_batch)

    def _setup_losses(self, data_batch: Any) -> None:
        """Probe the records on ``data_batch``, build the connectors and
        losses, and try every loss once."""
        device = next(self.module.parameters()).device
        teacher_data = self._teacher_data(data_batch)
        data = self.module.data_preprocessor(data_batch, True)
        teacher_data = teacher_data or dict(
            data, inputs=_copy_inputs(data['inputs']))
        buffers = {k: v.clone() for k, v in self.module.named_buffers()}
        with torch.no_grad():
            if self.teacher is not None:
                self._run_teacher(teacher_data['inputs'],
                                  teacher_data['data_samples'], probe=True)
            self._run_student(data['inputs'], data['data_samples'])
        for name, value in self.module.named_buffers():
            value.copy_(buffers[name])  # the probe must not move BN stats

        for name, loss_cfg in self.loss_cfgs.items():
            student = self.student_recorder.get(self.student_specs[name])
            self._build_loss(name, loss_cfg, student, self._target(name))
        self.connectors.to(device)
        self.distill_losses.to(device)
        self._built = True
        # One trial of every loss on the probe batch: shape errors show now.
        with torch.no_grad():
            self._distill_losses(data['data_samples'])

    def _build_loss(self, name: str, cfg: dict, student: Any,
                    teacher: Any) -> None:
        """Loss ``name`` and its connector, from the probed records."""
        s_spec, t_spec = self.student_specs[name], self.teacher_specs[name]
        loss = build_loss(name, cfg, student, teacher, s_spec, t_spec)
        self.distill_losses[name] = loss
        if 'data_samples' in inspect.signature(loss.forward).parameters:
            self.wants_data_samples.add(name)
        if hasattr(loss, 'init_from_teacher') and isinstance(
                t_spec, RecordSpec) and self.teacher is not None:
            # e.g. OFDLoss: its margin from the recorded teacher BN layer
            loss.init_from_teacher(
                find_module(self.teacher, t_spec.path, 'teacher'))
        if self.self_distill and hasattr(loss, 'check_student'):
            loss.check_student(self.module)  # e.g. PS-KD: a plain CE head
        connector = build_connector(name, cfg['connector'], loss, student,
                                    teacher, s_spec, t_spec)
        if connector is not None:
            self.connectors[name] = connector

    def load_student_init(self) -> None:
        """Load ``student_init`` parts of a checkpoint into the student."""
        if not self.student_init:
            return
        state = load_state_dict_from(self.student_init['checkpoint'],
                                     'student_init')
        prefixes = tuple(self.student_init.get('prefixes') or ('', ))
        own = self.module.state_dict()
        wanted = {k for k in own if k.startswith(prefixes)
                  and not k.endswith('num_batches_tracked')}
        missing = sorted(wanted - set(state))
        if missing:
            raise ValueError(
                f'student_init: {self.student_init["checkpoint"]!r} lacks '
                f'{len(missing)} student keys under {prefixes}, e.g. '
                f'{missing[:5]}.')
        picked = {k: v for k, v in state.items() if k.startswith(prefixes)
                  and k in own}
        self.module.load_state_dict(picked, strict=False)

    # -------------------------------------------------------------- forward
    def _run_teacher(self, inputs: Tensor, data_samples: Any,
                     probe: bool = False) -> None:
        """Run the teacher only as far as the recorded modules need."""
        recorder = self.teacher_recorder
        recorder.start(stop_early=not probe)
        try:
            device = next(self.teacher.parameters()).device
            with torch.no_grad(), self._teacher_autocast(device):
                self.teacher(inputs, data_samples, mode='tensor')
        except StopForward:
            pass
        finally:
            recorder.stop()
        if probe:
            recorder.count_calls()

    def _teacher_autocast(self, device: torch.device):
        """``torch.autocast`` of ``distill.teacher.autocast`` (or nothing)."""
        dtype = _AUTOCAST.get((self.teacher_cfg or {}).get('autocast'))
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=dtype)

    def _run_student(self, inputs: Tensor, data_samples: Any) -> dict:
        self.student_recorder.start()
        try:
            if self.student_gt_loss:
                return self.module(inputs, data_samples, mode='loss')
            self.module(inputs, data_samples, mode='tensor')
            return {}
        finally:
            self.student_recorder.stop()

    def _distill_losses(self, data_samples: Any,
                        names: Optional[List[str]] = None) -> Dict[str, Tensor]:
        losses, inputs = {}, {}
        for name in names if names is not None else list(self.loss_cfgs):
            raw, student, teacher = self.loss_inputs(name)
            loss_module = self.distill_losses[name]
            kwargs = {}
            if name in self.wants_data_samples:
                kwargs['data_samples'] = data_samples
            try:
                loss = loss_module(student, teacher, **kwargs)
            except (RuntimeError, ValueError) as e:
                raise type(e)(
                    f'distill.losses.{name} ({type(loss_module).__name__}) '
                    f'failed on student {_describe(student)} and teacher '
                    f'{_describe(teacher)}: {e}') from e
            losses[f'distill.loss_{name}'] = loss * self.loss_factors[name]
            inputs[name] = (raw, student, teacher)
        self._check_finite(losses, inputs)
        return losses

    def loss_inputs(self, name: str,
                    connectors: Optional[nn.ModuleDict] = None) -> tuple:
        """``(recorded student, student for the loss, teacher)`` of loss
        ``name`` from the last recorded forward: the student after its
        connector (of ``connectors``, default the model's) and resized to
        the teacher's map size; the teacher in fp32."""
        connectors = self.connectors if connectors is None else connectors
        student = self.student_recorder.get(self.student_specs[name])
        teacher = self._target(name)
        raw = student
        if name in connectors:
            student = connectors[name](student)
        if (isinstance(student, Tensor) and isinstance(teacher, Tensor)
                and student.dim() == 4 and teacher.dim() == 4):
            student = resize_like(student, teacher.shape[-2:])
        return raw, student, teacher

    def _target(self, name: str) -> Any:
        """The teacher side of loss ``name`` from the last forward: the
        teacher's record in fp32, or in self-distillation the student's own
        record detached (None without a ``teacher`` spec)."""
        spec = self.teacher_specs[name]
        if spec is None:
            return None
        record = _fp32(self.teacher_recorder.get(spec))
        return _detach(record) if self.self_distill else record

    def _check_finite(self, losses: Dict[str, Tensor],
                      inputs: Dict[str, tuple]) -> None:
        """Raise :class:`DistillLossError` naming the first NaN/Inf loss
        (one host-device sync for all of them). With several processes the
        flag is all-reduced (one collective per step), so that every rank
        stops at the same step and none waits in DDP's all-reduce."""
        if not losses:
            return
        finite = torch.isfinite(torch.stack(
            [v.detach().float().sum() for v in losses.values()])).all()
        if get_world_size() > 1:
            everywhere = finite.float()
            all_reduce(everywhere, op='min')
            if finite and not everywhere:
                raise DistillLossError(
                    '', 'A distillation loss is NaN/Inf on another rank '
                    '(its log names it). Training stopped.')
        if finite:
            return
        for name, (raw, student, teacher) in inputs.items():
            loss = losses[f'distill.loss_{name}']
            if not torch.isfinite(loss).all():
                connected = '' if student is raw else (
                    f', {_describe(student)} after the '
                    f'{type(self.connectors[name]).__name__}')
                raise DistillLossError(
                    name, f'distill.loss_{name} is {loss.sum().item()} '
                    f'(student {self.student_specs[name]} '
                    f'{_describe(raw)}{connected}; teacher '
                    f'{self.teacher_specs[name]} {_describe(teacher)}). '
                    'Training stopped.')

    def _teacher_data(self, data: Any) -> Optional[dict]:
        """The raw batch ``data`` through the teacher's own data
        preprocessor (in test mode: no batch augmentation of its own) when
        it differs from the student's; None when they are alike or the
        teacher does not run this step. Call it before the student's
        preprocessor, which may set metainfo in the shared data samples."""
        if (self.teacher is None or not self.teacher_preprocessing
                or not self.active_losses()):
            return None
        if isinstance(data, dict) and 'data_samples' in data:
            data = dict(data, data_samples=copy.deepcopy(data['data_samples']))
        return self.teacher.data_preprocessor(data, False)

    def active_losses(self) -> List[str]:
        """The losses computed now: neither their ``loss_weight`` nor their
        schedule's factor is 0 (the teacher runs only if there are any)."""
        return [n for n, cfg in self.loss_cfgs.items()
                if cfg.get('loss_weight', 1) != 0
                and self.loss_factors[n] != 0]

    def loss(self, inputs: Tensor, data_samples: Any,
             teacher_data: Optional[dict] = None) -> Dict[str, Tensor]:
        """Student losses plus the active distillation losses.

        ``teacher_data`` is the batch as the teacher's own data preprocessor
        made it (:meth:`_teacher_data`); None: the student's ``inputs``.

        When a distillation loss is not finite, the BatchNorm statistics
        that this forward moved are put back before :class:`DistillLossError`
        is raised, so the model holds the state from before this step.
        """
        active = self.active_losses()
        buffers = self._trained_buffers()
        saved = [b.clone() for b in buffers]
        try:
            if active and self.teacher is not None:
                teacher_data = teacher_data or dict(
                    inputs=_copy_inputs(inputs), data_samples=data_samples)
                self._run_teacher(teacher_data['inputs'],
                                  teacher_data['data_samples'])
            losses = dict(self._run_student(inputs, data_samples))
            if 'loss' in losses:
                # mmpretrain's heads name their loss `loss`, the log's name
                # of the total: it would hide the total (parse_losses)
                losses['loss_student'] = losses.pop('loss')
            losses.update(self._distill_losses(data_samples, active))
        except DistillLossError:
            with torch.no_grad():
                for buffer, value in zip(buffers, saved):
                    buffer.copy_(value)
            raise
        return losses

    def _trained_buffers(self) -> List[Tensor]:
        """Buffers a training forward may change (BatchNorm statistics of
        the student and the connectors); the teacher's never change.
        Modules with ``rollback = False`` (PS-KD's memory of predictions,
        N x C: too large to copy every step; it never stores a non-finite
        row) are left out."""
        return [b for part in (self.module, self.connectors,
                               self.distill_losses)
                for m in part.modules() if getattr(m, 'rollback', True)
                for b in m.buffers(recurse=False)]

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        if not self.is_setup:
            raise RuntimeError(
                'DistillModel was not set up before training: train it with '
                "runner_type = 'mmkd.DistillRunner' (the distill recipes set "
                'it), which builds the teacher and puts the connectors in the '
                'optimizer.')
        ddp = self.ddp
        with optim_wrapper.optim_context(self if ddp is None else ddp):
            teacher_data = self._teacher_data(data)  # before the student's
            data = self.module.data_preprocessor(data, True)
            if ddp is None:
                losses = self.loss(data['inputs'], data['data_samples'],
                                   teacher_data)
            else:  # DDP's forward runs `self.loss` (forward, mode='loss')
                losses = ddp(data['inputs'], data['data_samples'],
                             mode='loss', teacher_data=teacher_data)
        parsed_losses, log_vars = self.module.parse_losses(losses)
        if ddp is not None:
            parsed_losses = parsed_losses + self._ddp_zero_term()
        optim_wrapper.update_params(parsed_losses)
        return log_vars

    def _ddp_zero_term(self) -> Union[Tensor, float]:
        """0 x the parameters that no loss reaches in this step: those of
        the losses at weight 0 and ``ddp_unreached``. DDP without
        ``find_unused_parameters`` needs a gradient for every parameter."""
        params = list(self.ddp_unreached)
        active = self.active_losses()
        for name in self.loss_cfgs:
            if name not in active:
                for part in (self.connectors, self.distill_losses):
                    if name in part:
                        params += [p for p in part[name].parameters()
                                   if p.requires_grad]
        return sum(p.sum() for p in params) * 0. if params else 0.

    def val_step(self, data: Union[dict, tuple, list]) -> list:
        return self.module.val_step(data)

    def test_step(self, data: Union[dict, tuple, list]) -> list:
        return self.module.test_step(data)

    def forward(self,
                inputs: Tensor,
                data_samples: Any = None,
                mode: str = 'tensor',
                teacher_data: Optional[dict] = None) -> Any:
        """The student's forward, but ``mode='loss'`` gives the student's
        and the distillation losses (:meth:`loss`) once set up: the forward
        that DDP runs."""
        if mode == 'loss' and self.is_setup:
            return self.loss(inputs, data_samples, teacher_data)
        return self.module(inputs, data_samples, mode=mode)

    # ---------------------------------------------------------------- state
    def train(self, mode: bool = True) -> 'DistillModel':
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # BatchNorm included, whatever `mode` is
        for module in self.frozen:
            module.eval()
        return self

    def state_dict(self, *args, **kwargs) -> dict:
        """The student's state dict only (the teacher is never saved)."""
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: dict, strict: bool = True,
                        **kwargs):
        return self.module.load_state_dict(state_dict, strict, **kwargs)

    def revert_sync_batchnorm(self) -> None:
        self.module = revert_sync_batchnorm(self.module)

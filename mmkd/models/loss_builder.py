"""Build the distillation losses of ``distill.losses`` and their connectors.

Each loss config is checked against its class's arguments when the
:class:`~mmkd.models.distill_model.DistillModel` is built; once the first
batch is probed, the channel arguments are filled from the recorded
tensors and the connector is chosen (``'auto'``, None or a config).
"""
import inspect
from typing import Any, Dict, List, Optional

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS
from .connectors import auto_connector
from .recorder import SpecGroup

# the keys of a loss config that are not the loss's own arguments
SPEC_KEYS = ('type', 'student', 'teacher', 'connector', '_scope_')


def mmkd_cfg(cfg: dict) -> dict:
    """Qualify a bare ``type`` name with the ``mmkd.`` scope so it is found
    whatever the runner's default scope is."""
    cfg = dict(cfg)
    if isinstance(cfg.get('type'), str) and '.' not in cfg['type']:
        cfg['type'] = 'mmkd.' + cfg['type']
    return cfg


def loss_class(cfg: dict, name: str) -> type:
    """The registered class of loss ``name``'s config."""
    type_ = mmkd_cfg(cfg)['type']
    cls = MODELS.get(type_) if isinstance(type_, str) else type_
    if cls is None:
        raise KeyError(f'distill.losses.{name}: unknown loss type '
                       f'{cfg.get("type")!r} (not registered in mmkd).')
    return cls


def accepted_args(cls: type) -> Optional[List[str]]:
    """The arguments ``cls`` takes; None when it takes ``**kwargs``."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return None
    return [n for n in params if n != 'self']


def check_loss_cfgs(losses: Dict[str, dict],
                    has_teacher: bool) -> Dict[str, dict]:
    """``losses`` checked (required keys, arguments the loss takes), each
    with ``connector='auto'`` unless given. Without a teacher
    (self-distillation) a loss's ``teacher`` spec is optional: it names a
    module of the student itself, or None.

    Raises:
        KeyError: a missing key or an unknown loss type.
        TypeError: an argument the loss does not take.
    """
    checked: Dict[str, dict] = {}
    for name, cfg in losses.items():
        cfg = dict(cfg)
        if not has_teacher:
            cfg.setdefault('teacher', None)
        for key in ('type', 'student', 'teacher'):
            if key not in cfg:
                raise KeyError(f'distill.losses.{name} needs {key!r}.')
        cls = loss_class(cfg, name)
        accepted = accepted_args(cls)
        if accepted is not None:
            wrong = [k for k in cfg if k not in SPEC_KEYS
                     and k not in accepted]
            if wrong:
                raise TypeError(
                    f'distill.losses.{name}: {cls.__name__} does not take '
                    f'{wrong}; it takes {accepted}.')
        cfg.setdefault('connector', 'auto')
        checked[name] = cfg
    return checked


def build_loss(name: str, cfg: dict, student: Any, teacher: Any,
               student_spec: Any, teacher_spec: Any) -> nn.Module:
    """Loss ``name`` with the channel arguments it takes and its config
    leaves unset filled from the probed ``student`` and ``teacher``
    records (a spec group records ``(feature, extras ...)``: the channels
    of the feature)."""
    cfg = {k: v for k, v in cfg.items()
           if k not in ('connector', 'student', 'teacher')}
    accepted = accepted_args(loss_class(cfg, name)) or []
    s_map = student[0] if isinstance(student_spec, SpecGroup) else student
    t_map = teacher[0] if isinstance(teacher_spec, SpecGroup) else teacher
    if (isinstance(s_map, Tensor) and isinstance(t_map, Tensor)
            and s_map.dim() >= 2):
        for arg, value in (('student_channels', s_map.shape[1]),
                           ('teacher_channels', t_map.shape[1]),
                           ('channels', t_map.shape[1])):
            if arg in accepted and cfg.get(arg) is None:
                cfg[arg] = int(value)
    return MODELS.build(mmkd_cfg(cfg))


def build_connector(name: str, connector: Any, loss_module: nn.Module,
                    student: Any, teacher: Any, student_spec: Any,
                    teacher_spec: Any) -> Optional[nn.Module]:
    """The connector of loss ``name`` (None: the student goes to the loss
    as it is recorded).

    ``'auto'`` maps the student's channels to the teacher's where the
    feature maps differ, unless the loss takes both channel counts itself
    or is ``channel_agnostic``; a config gets the channel arguments it
    takes from the records (of a spec group: from its first record) and
    a ``num_classes`` it takes from the last record of a teacher spec
    group ``(feature, ..., logits)``, e.g. BYOT's exits.

    Raises:
        ValueError: no automatic connector fits, or one would map class
            logits of a loss that ``compares_distributions``.
    """
    is_map = isinstance(student, Tensor) and isinstance(teacher, Tensor)
    if connector == 'auto':
        accepted = accepted_args(type(loss_module)) or []
        if not is_map or 'student_channels' in accepted or getattr(
                loss_module, 'channel_agnostic', False):
            return None
        try:
            connector = auto_connector(student.shape, teacher.shape)
        except ValueError as e:
            raise ValueError(
                f'distill.losses.{name}: {e} (student {student_spec}, '
                f'teacher {teacher_spec})') from e
        if connector is not None and getattr(
                loss_module, 'compares_distributions', False):
            raise ValueError(
                f'distill.losses.{name}: {type(loss_module).__name__} '
                'compares distributions over classes (or bins), and the '
                f'student {student_spec} has '
                f'{connector["in_channels"]} where the teacher '
                f'{teacher_spec} has '
                f'{connector["out_channels"]}: a learned map between '
                'class logits is not distillation, so no connector is '
                "built. Give the teacher the student's classes (a teacher "
                'trained on them, e.g. distill.teacher.cfg_options='
                'dict(model=dict(decode_head=dict(num_classes=...)))), or '
                'distil features instead (a feature-level recipe such as '
                'fpn_pkd.py or rtmpose_fitnet.py).')
    if connector is None:
        return None
    connector = dict(connector)
    type_ = mmkd_cfg(connector)['type']
    cls = MODELS.get(type_) if isinstance(type_, str) else type_
    takes = accepted_args(cls) if isinstance(cls, type) else None
    s_map = student[0] if isinstance(student_spec, SpecGroup) else student
    t_map = teacher[0] if isinstance(teacher_spec, SpecGroup) else teacher
    if isinstance(s_map, Tensor) and isinstance(t_map, Tensor):
        channel_dim = 1 if connector.get('type') != 'LinearConnector' else -1
        s_c = int(s_map.shape[channel_dim])
        t_c = int(t_map.shape[channel_dim])
        # the channel arguments the connector takes (MMRazor's use
        # in_channel/out_channel or student_/teacher_channels)
        for arg, value in (('in_channels', s_c), ('out_channels', t_c),
                           ('in_channel', s_c), ('out_channel', t_c),
                           ('student_channels', s_c),
                           ('teacher_channels', t_c)):
            if arg in (takes if takes is not None else
                       ('in_channels', 'out_channels')):
                connector.setdefault(arg, value)
    logits = teacher[-1] if isinstance(teacher_spec, SpecGroup) else None
    if isinstance(logits, Tensor) and 'num_classes' in (takes or ()):
        connector.setdefault('num_classes', int(logits.shape[-1]))
    return MODELS.build(mmkd_cfg(connector))

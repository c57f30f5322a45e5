"""Convert an MMRazor 1.x distillation config into an mmkd config.

MMRazor describes distillation as a model: ``model = dict(_scope_='mmrazor',
type='SingleTeacherDistill' | 'FpnTeacherDistill', architecture=...,
teacher=..., teacher_ckpt=..., distiller=dict(type='ConfigurableDistiller',
student_recorders=..., teacher_recorders=..., connectors=...,
distill_losses=..., loss_forward_mappings=...))``. mmkd keeps the student's
own config and adds a ``distill`` dict; :func:`convert_mmrazor_config` maps
one onto the other, and refuses (:class:`UnmappableError`, naming every
item) what mmkd cannot do the same way.
"""
import inspect
import os
import os.path as osp
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

from .config_writer import format_assignments, format_value

# the top-level keys mmengine's Runner reads from a config
RUNNER_KEYS = (
    'default_scope', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'auto_scale_lr', 'default_hooks',
    'custom_hooks', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'randomness', 'load_from', 'resume', 'launcher', 'model_wrapper_cfg',
    'work_dir', 'experiment_name', 'custom_imports', 'data_preprocessor')
ALGORITHMS = ('SingleTeacherDistill', 'FpnTeacherDistill',
              'OverhaulFeatureDistillation')
ALGORITHM_KEYS = ('type', '_scope_', '_delete_', 'architecture', 'teacher',
                  'teacher_ckpt', 'distiller', 'data_preprocessor',
                  'teacher_trainable', 'teacher_norm_eval',
                  'student_trainable', 'calculate_student_loss',
                  'teacher_module_inplace')
DISTILLER_KEYS = ('type', '_scope_', 'student_recorders', 'teacher_recorders',
                  'distill_deliveries', 'connectors', 'distill_losses',
                  'loss_forward_mappings')
RECORDERS = ('ModuleOutputs', 'ModuleInputs')
# MMRazor's hooks that stop distillation at an epoch, and their argument
STOP_HOOKS = dict(StopDistillHook='stop_epoch',
                  DistillationLossDetachHook='detach_epoch')
# connectors with the same name, arguments and computation in mmkd
CONNECTORS = ('ConvModuleConnector', 'NormConnector', 'MGDConnector')
# losses with the same name, arguments and values in mmkd
SAME_LOSSES = ('PKDLoss', 'ChannelWiseDivergence', 'KLDivergence',
               'DISTLoss', 'WSLD', 'ATLoss', 'DistanceWiseRKD',
               'AngleWiseRKD', 'L1Loss', 'L2Loss', 'ABLoss')
# losses that read the classes from the batch's data samples in mmkd,
# where MMRazor records them (``gt_labels``) from the head's loss module
LABEL_LOSSES = ('DKDLoss', 'WSLD')
FBKD_CONNECTOR_ARGS = ('in_channels', 'reduction', 'conv_cfg', 'norm_cfg',
                       'mode', 'sub_sample', 'maxpool_stride', 'zeros_init',
                       'spatial_T', 'channel_T')


class UnmappableError(ValueError):
    """Parts of an MMRazor config that mmkd cannot reproduce.

    Args:
        items (list[str]): One line per part, naming it and why.
    """

    def __init__(self, items: List[str]) -> None:
        self.items = items
        super().__init__(
            'Cannot convert this MMRazor config; mmkd has no equivalent '
            'for:\n' + '\n'.join(f'  - {item}' for item in items))


@dataclass
class Conversion:
    """The result of :func:`convert_mmrazor_config`.

    Attributes:
        bases (list[str]): The converted config's ``_base_``.
        settings (dict): Top-level keys written after ``_base_`` (runner
            settings where MMRazor's differ from the bases', ``model``
            changes, ``runner_type``, ``distill``).
        notes (list[str]): What was mapped differently or dropped, in plain
            words (written as comments into the file).
        source (str): The MMRazor config's path.
    """
    bases: List[str]
    settings: Dict[str, Any]
    notes: List[str] = field(default_factory=list)
    source: str = ''

    @property
    def distill(self) -> dict:
        return self.settings['distill']

    def to_text(self) -> str:
        """The mmkd config file's text."""
        lines = [f'# mmkd config converted from the MMRazor config '
                 f'{self.source}', '# by tools/convert_mmrazor_config.py.']
        if self.notes:
            lines.append('# Notes:')
            for note in self.notes:
                lines += ['#   ' + line if i == 0 else '#     ' + line
                          for i, line in enumerate(_wrap(note, 72))]
        lines.append(f'_base_ = {format_value(self.bases, 0, 9)}')
        return '\n'.join(lines) + '\n\n' + format_assignments(
            list(self.settings.items()))


def _wrap(text: str, width: int) -> List[str]:
    lines, line = [], ''
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f'{line} {word}' if line else word
    return lines + [line]


def _type(cfg: Any) -> str:
    """The type name of a config without its ``mmrazor.`` scope."""
    type_ = cfg.get('type', '') if isinstance(cfg, dict) else ''
    type_ = type_ if isinstance(type_, str) else getattr(
        type_, '__name__', str(type_))
    return type_.split('.', 1)[1] if type_.startswith('mmrazor.') else type_


def _plain(value: Any) -> Any:
    """ConfigDicts and tuples-of-them as plain dicts and lists."""
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _rescope(path: str) -> str:
    """``mmcls::`` paths as ``mmpretrain::`` when only mmpretrain (the
    successor of mmcls 1.x, same config tree) is installed."""
    if not path.startswith('mmcls::'):
        return path
    import importlib.util
    if importlib.util.find_spec('mmcls') is None and \
            importlib.util.find_spec('mmpretrain') is not None:
        return 'mmpretrain::' + path[len('mmcls::'):]
    return path


def _abs_bases(cfg_file: str) -> List[str]:
    """The ``_base_`` entries of ``cfg_file`` as written, relative paths
    made absolute."""
    bases = Config._get_base_files(cfg_file)
    root = osp.dirname(osp.abspath(cfg_file))
    return [_rescope(b) if '::' in b else osp.normpath(osp.join(root, b))
            for b in bases]


def _load_bases(bases: List[str]) -> Config:
    """The config that ``_base_ = bases`` gives."""
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'bases.py')
        with open(path, 'w') as f:
            f.write(f'_base_ = {bases!r}\n')
        return Config.fromfile(path)


def _load_razor_config(path: str) -> Config:
    """Load the MMRazor config, reading ``mmcls::`` bases from mmpretrain
    when mmcls is not installed."""
    with open(path) as f:
        text = f.read()
    if 'mmcls::' in text and _rescope('mmcls::x') != 'mmcls::x':
        with tempfile.NamedTemporaryFile(
                'w', suffix='.py', dir=osp.dirname(osp.abspath(path)),
                delete=False) as f:
            f.write(text.replace('mmcls::', 'mmpretrain::'))
        try:
            return Config.fromfile(f.name)
        finally:
            os.remove(f.name)
    return Config.fromfile(path)


def _zoo_checkpoint(cfg_path: str) -> Optional[str]:
    """The checkpoint that ``pretrained=True`` loads for ``cfg_path``
    (mmengine.hub's lookup in the package's metafiles), or None."""
    try:
        from mmengine.hub import get_config
        return get_config(cfg_path, pretrained=True).get('model_path')
    except Exception:  # noqa: BLE001  (not in a metafile, not installed)
        return None


class _Converter:
    """One conversion; collects the unmappable items and the notes."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.cfg = _load_razor_config(path)
        except (OSError, ImportError, SyntaxError) as e:
            raise UnmappableError([
                f'{path} cannot be loaded ({type(e).__name__}: {e}); the '
                'packages its _base_ names must be installed (mmcls:: paths '
                'are read from mmpretrain when mmcls is not installed).'])
        self.problems: List[str] = []
        self.notes: List[str] = []
        self.student_init: Optional[dict] = None
        self.loss_notes: Dict[str, List[str]] = {}  # note -> loss names
        self.teacher_preprocessor: Optional[dict] = None

    # ------------------------------------------------------------- the model
    def run(self) -> Conversion:
        if 'model' not in self.cfg:
            raise UnmappableError([f'{self.path} has no `model`.'])
        model = _plain(self.cfg.model)
        algorithm = _type(model)
        if algorithm not in ALGORITHMS:
            raise UnmappableError([
                f'model.type {model.get("type")!r}: mmkd converts '
                f'{", ".join(ALGORITHMS)} (data-free, self- and '
                'online distillation have no mmkd equivalent).'])
        for key in model:
            if key not in ALGORITHM_KEYS:
                self.problems.append(f'model.{key} (an argument of '
                                     f'{algorithm} mmkd has no equivalent of)')
        if model.get('teacher_trainable'):
            self.problems.append(
                'model.teacher_trainable=True: mmkd teachers are frozen.')
        if model.get('student_trainable', True) is False:
            self.problems.append(
                'model.student_trainable=False: mmkd always trains the '
                'student.')
        if model.get('teacher_norm_eval', True) is False:
            self.problems.append(
                'model.teacher_norm_eval=False (teacher BatchNorm in train '
                'mode): mmkd keeps the whole teacher in eval mode.')

        bases, settings, base_cfg = self._student(model)
        distill = dict(teacher=self._teacher(model))
        distill['losses'] = self._losses(model.get('distiller') or {})
        if not model.get('calculate_student_loss', True):
            distill['student_gt_loss'] = False
            self.notes.append(
                'calculate_student_loss=False -> student_gt_loss=False (mmkd '
                "runs the student in mode='tensor', MMRazor in mode='loss' "
                'without its losses).')
        if algorithm == 'FpnTeacherDistill':
            self.notes.append(
                'FpnTeacherDistill ran only teacher.extract_feat: mmkd stops '
                "the teacher's forward once the recorded modules ran.")
        settings.update(self._runner_settings(base_cfg, distill))
        settings['runner_type'] = 'mmkd.DistillRunner'
        settings['distill'] = distill
        if self.problems:
            raise UnmappableError(self.problems)
        self._validate(distill)
        self.notes += [f'{", ".join(names)}: {note}'
                       for note, names in self.loss_notes.items()]
        return Conversion(bases, settings, self.notes, self.path)

    def _student(self, model: dict) -> Tuple[List[str], dict, Config]:
        """The bases, ``model`` changes and base config of the student."""
        arch = model.get('architecture') or {}
        settings: Dict[str, Any] = {}
        if arch.get('cfg_path'):
            extra = [k for k in arch if k not in ('cfg_path', 'pretrained')]
            if extra:
                self.problems.append(f'model.architecture.{extra[0]} next to '
                                     'cfg_path (mmengine.hub ignores it).')
            bases = [_rescope(arch['cfg_path'])]
            if arch.get('pretrained'):
                ckpt = _zoo_checkpoint(bases[0])
                if ckpt is None:
                    self.problems.append(
                        'model.architecture.pretrained=True: no checkpoint '
                        f'for {bases[0]} in its package\'s metafiles.')
                else:
                    self.student_init = dict(checkpoint=ckpt)
                    self.notes.append('architecture.pretrained=True -> '
                                      'distill.student_init (the zoo '
                                      f'checkpoint {ckpt}).')
        else:  # the student's model dict inside the MMRazor config
            bases = _abs_bases(self.path)
            settings['model'] = dict(_delete_=True, **arch)
            self.notes.append('The student is the model dict that the '
                              'MMRazor config embedded (architecture).')
        if model.get('data_preprocessor'):
            preprocessor = dict(_delete_=True, **model['data_preprocessor'])
            settings.setdefault('model', {})['data_preprocessor'] = \
                preprocessor
            self.teacher_preprocessor = model['data_preprocessor']
        try:
            base_cfg = _load_bases(bases)
        except Exception as e:  # noqa: BLE001
            raise UnmappableError([f'the student config {bases}: cannot be '
                                   f'loaded ({type(e).__name__}: {e}).'])
        return bases, settings, base_cfg

    def _teacher(self, model: dict) -> dict:
        teacher = model.get('teacher') or {}
        out: Dict[str, Any] = {}
        if teacher.get('cfg_path'):
            out['config'] = _rescope(teacher['cfg_path'])
        elif teacher:
            out['config'] = dict(model=teacher, default_scope=self.cfg.get(
                'default_scope'))
            self.notes.append('The teacher is the model dict that the '
                              'MMRazor config embedded.')
        else:
            self.problems.append('model.teacher is missing.')
        ckpt = model.get('teacher_ckpt')
        if not ckpt and teacher.get('pretrained') and 'config' in out \
                and isinstance(out['config'], str):
            ckpt = _zoo_checkpoint(out['config'])
            if ckpt:
                self.notes.append('teacher pretrained=True -> the zoo '
                                  f'checkpoint {ckpt}.')
        if not ckpt:
            self.notes.append('No teacher checkpoint: set '
                              'distill.teacher.checkpoint before training.')
        out['checkpoint'] = ckpt or None
        if self.teacher_preprocessor:
            out['cfg_options'] = dict(model=dict(data_preprocessor=dict(
                _delete_=True, **self.teacher_preprocessor)))
            self.notes.append(
                "MMRazor's model.data_preprocessor prepared the batch of "
                'both models: set for the student and the teacher.')
        return out

    # ------------------------------------------------------------ the losses
    def _losses(self, distiller: dict) -> Dict[str, dict]:
        dtype = _type(distiller)
        if dtype not in ('ConfigurableDistiller', 'OFDDistiller'):
            self.problems.append(f'model.distiller.type {dtype!r} (mmkd '
                                 'converts ConfigurableDistiller).')
            return {}
        for key in distiller:
            if key not in DISTILLER_KEYS:
                self.problems.append(f'model.distiller.{key}')
        if distiller.get('distill_deliveries'):
            self.problems.append(
                'model.distiller.distill_deliveries '
                f'{list(distiller["distill_deliveries"])}: deliveries '
                '(the teacher overriding student results) have no mmkd '
                'equivalent.')
        recorders = dict(student=distiller.get('student_recorders') or {},
                         teacher=distiller.get('teacher_recorders') or {})
        connectors = distiller.get('connectors') or {}
        mappings = distiller.get('loss_forward_mappings') or {}
        used_connectors: Dict[str, List[str]] = {}
        losses = {}
        for name, loss_cfg in (distiller.get('distill_losses') or {}).items():
            if name not in mappings:
                self.notes.append(f'distill_losses.{name} has no '
                                  'loss_forward_mappings entry: MMRazor never '
                                  'computed it, so it is left out.')
                continue
            if 'loss' not in name:
                self.problems.append(
                    f'distill_losses.{name}: a name without "loss" is only '
                    'logged by MMRazor, never trained on; mmkd trains every '
                    'distillation loss.')
                continue
            converted = self._loss(name, loss_cfg, mappings[name], recorders,
                                   connectors, used_connectors)
            if converted is not None:
                new_name = name[5:] if name.startswith('loss_') else name
                losses[new_name] = converted
        shared = {c: n for c, n in used_connectors.items() if len(n) > 1}
        for connector, names in shared.items():
            self.notes.append(
                f'connector {connector} was shared by {names} in MMRazor; '
                'mmkd gives each loss its own copy.')
        return losses

    def _loss_note(self, name: str, note: str) -> None:
        """A note on loss ``name``; equal notes of losses are merged."""
        self.loss_notes.setdefault(note, []).append(name)

    def _spec(self, name: str, arg: str, item: dict,
              recorders: Dict[str, dict]) -> Optional[str]:
        """The mmkd recorder spec of one loss_forward_mappings item."""
        side = 'student' if item.get('from_student') else 'teacher'
        recorder = recorders[side].get(item.get('recorder'))
        where = f'loss_forward_mappings.{name}.{arg}'
        if recorder is None:
            self.problems.append(f'{where}: no {side} recorder '
                                 f'{item.get("recorder")!r}.')
            return None
        rtype = _type(recorder)
        if rtype not in RECORDERS:
            self.problems.append(
                f'{side}_recorders.{item["recorder"]} ({rtype}, source '
                f'{recorder.get("source")!r}), used by {name}: mmkd records '
                'module outputs and inputs only (ModuleOutputs, '
                'ModuleInputs).')
            return None
        spec = recorder['source'] + (':input' if rtype == 'ModuleInputs'
                                     else '')
        record_idx = item.get('record_idx', 0) or 0
        if record_idx:  # the (record_idx + 1)-th call of the module
            spec += f'[{record_idx}]'
        data_idx = item.get('data_idx')
        # mmkd's ':input' is the module's only positional input itself
        if data_idx is not None and not (rtype == 'ModuleInputs'
                                         and data_idx == 0):
            spec += f'[{data_idx}]'
        return spec

    def _loss(self, name: str, loss_cfg: dict, mapping: dict,
              recorders: Dict[str, dict], connectors: Dict[str, Any],
              used_connectors: Dict[str, List[str]]) -> Optional[dict]:
        loss_type = _type(loss_cfg)
        items = dict(mapping)
        if loss_type in LABEL_LOSSES and 'gt_labels' in items:
            items.pop('gt_labels')
            self._loss_note(name, 'the gt_labels mapping is dropped; '
                            f"mmkd's {loss_type} reads the classes from the "
                            'data samples.')
        students = [(k, v) for k, v in items.items() if v.get('from_student')]
        teachers = [(k, v) for k, v in items.items()
                    if not v.get('from_student')]
        if len(students) != 1 or len(teachers) != 1:
            self.problems.append(
                f'loss_forward_mappings.{name} maps {list(items)}: mmkd '
                'losses take one student and one teacher record.')
            return None
        (s_arg, s_item), (t_arg, t_item) = students[0], teachers[0]
        specs = [self._spec(name, s_arg, s_item, recorders),
                 self._spec(name, t_arg, t_item, recorders)]
        s_conn = self._connector_cfg(name, s_arg, s_item, connectors,
                                     used_connectors)
        t_conn = self._connector_cfg(name, t_arg, t_item, connectors,
                                     used_connectors)
        if None in specs or s_conn is False or t_conn is False:
            return None
        out = self._loss_args(name, loss_type, loss_cfg, s_conn, t_conn)
        if out is None:
            return None
        connector = out.pop('connector')
        return dict(type=out.pop('type'), student=specs[0],
                    teacher=specs[1], connector=connector, **out)

    def _connector_cfg(self, name: str, arg: str, item: dict,
                       connectors: Dict[str, Any],
                       used: Dict[str, List[str]]) -> Any:
        """The connector config of a mapping item, None without one,
        False when unmappable."""
        where = f'loss_forward_mappings.{name}.{arg}'
        if item.get('connector_idx') is not None:
            conn = connectors.get(item.get('connector'), {})
            if not _type(conn).startswith('FBKD'):
                self.problems.append(f'{where}.connector_idx (picking one '
                                     'output of a connector).')
                return False
        conn_name = item.get('connector')
        if not conn_name:
            return None
        if conn_name not in connectors:
            self.problems.append(f'{where}: no connector {conn_name!r}.')
            return False
        used.setdefault(conn_name, []).append(name)
        cfg = connectors[conn_name]
        if isinstance(cfg, list):
            if len(cfg) != 1:
                self.problems.append(
                    f'connectors.{conn_name}: a list of {len(cfg)} '
                    'connectors (nn.Sequential); mmkd takes one connector '
                    'per loss.')
                return False
            cfg = cfg[0]
        cfg = dict(cfg)
        cfg['type'] = _type(cfg)
        cfg.pop('_scope_', None)
        cfg['_name'] = conn_name
        return cfg

    def _loss_args(self, name: str, loss_type: str, cfg: dict,
                   s_conn: Optional[dict], t_conn: Optional[dict]
                   ) -> Optional[dict]:
        """The mmkd loss config (type and arguments, with ``connector``
        when the loss changes it) of one MMRazor loss."""
        args = {k: v for k, v in cfg.items()
                if k not in ('type', '_scope_')}
        teacher_ok = False
        if loss_type in SAME_LOSSES:
            out = dict(type=loss_type, **args)
        elif loss_type == 'DKDLoss':
            out = dict(type='DKDLoss', **args)
            if args.get('reduction', 'batchmean') != 'batchmean':
                out['reduction'] = 'sum'
                self._loss_note(
                    name, f"DKDLoss reduction {args['reduction']!r} -> 'sum' "
                    "(MMRazor's DKDLoss sums over the batch for every "
                    "reduction but 'batchmean').")
        elif loss_type == 'MGDLoss':
            out = dict(type='MSELoss', reduction='sum',
                       loss_weight=args.pop('alpha_mgd', 2e-5), **args)
            self._loss_note(
                name, "MGDLoss(alpha_mgd) -> MSELoss(reduction='sum', "
                'loss_weight=alpha_mgd), the same sum((S - T)^2) / N * '
                'alpha_mgd.')
        elif loss_type == 'OFDLoss':
            teacher_ok = t_conn is not None and \
                t_conn['type'] == 'OFDTeacherConnector'
            out = dict(type='OFDLoss', teacher_margin=teacher_ok, **args)
            if teacher_ok:
                self._loss_note(
                    name, 'OFDTeacherConnector -> OFDLoss(teacher_margin='
                    'True) (the margin from the recorded teacher '
                    'BatchNorm).')
        elif loss_type == 'FBKDLoss':
            return self._fbkd(name, args, s_conn, t_conn)
        else:
            self.problems.append(
                f'distill_losses.{name}: loss type {loss_type!r} has no mmkd '
                'equivalent.')
            return None
        if t_conn is not None and not teacher_ok:
            self.problems.append(
                f'connectors.{t_conn["_name"]} ({t_conn["type"]}) on the '
                f'teacher side of {name}: mmkd connects the student only.')
            return None
        if s_conn is not None:
            if s_conn['type'] not in CONNECTORS:
                self.problems.append(
                    f'connectors.{s_conn["_name"]}: connector type '
                    f'{s_conn["type"]!r} has no mmkd equivalent.')
                return None
            s_conn = {k: v for k, v in s_conn.items() if k != '_name'}
        out['connector'] = s_conn
        return out

    def _fbkd(self, name: str, args: dict, s_conn: Optional[dict],
              t_conn: Optional[dict]) -> Optional[dict]:
        """FBKD: the two connectors' settings become FBKDLoss arguments."""
        if (s_conn or {}).get('type') != 'FBKDStudentConnector' or \
                (t_conn or {}).get('type') != 'FBKDTeacherConnector':
            self.problems.append(
                f'{name}: FBKDLoss needs FBKDStudentConnector and '
                'FBKDTeacherConnector (mmkd holds both in FBKDLoss).')
            return None
        settings = {}
        for conn in (s_conn, t_conn):
            extra = [k for k in conn if k not in FBKD_CONNECTOR_ARGS
                     and k not in ('type', '_name', 'init_cfg')]
            if extra:
                self.problems.append(f'connectors.{conn["_name"]}: '
                                     f'arguments {extra}.')
                return None
            for key, value in conn.items():
                if key in FBKD_CONNECTOR_ARGS:
                    settings.setdefault(key, set()).add(repr(value))
        differ = [k for k, v in settings.items() if len(v) > 1]
        if differ:
            self.problems.append(
                f'{name}: the student and teacher FBKD connectors differ in '
                f'{differ}; mmkd\'s FBKDLoss has one setting.')
            return None
        if 'nonloacl_weight' in args:
            args['nonlocal_weight'] = args.pop('nonloacl_weight')
        out = dict(type='FBKDLoss', **args)
        for key in FBKD_CONNECTOR_ARGS:
            if key in s_conn:
                out['channels' if key == 'in_channels' else key] = s_conn[key]
        out['connector'] = None
        self._loss_note(
            name, 'FBKDStudentConnector/FBKDTeacherConnector settings -> '
            'FBKDLoss arguments (nonloacl_weight spelt nonlocal_weight).')
        return out

    # -------------------------------------------------------- runner settings
    def _runner_settings(self, base_cfg: Config, distill: dict) -> dict:
        """The runner keys of the MMRazor config that differ from the
        student's bases, with MMRazor's own parts mapped or refused."""
        cfg = {k: _plain(v) for k, v in self.cfg.items()}
        if cfg.pop('find_unused_parameters', None) is not None:
            self.notes.append(
                'find_unused_parameters dropped: mmkd puts only the student '
                'and its connectors in DDP and needs none.')
        val_cfg = cfg.get('val_cfg')
        if _type(val_cfg) == 'SingleTeacherDistillValLoop':
            cfg['val_cfg'] = dict(type='ValLoop', **{
                k: v for k, v in val_cfg.items() if k != 'type'})
            distill['validate_teacher'] = True
            self.notes.append('SingleTeacherDistillValLoop -> ValLoop and '
                              'distill.validate_teacher=True.')
        hooks, schedules = [], []
        for hook in cfg.get('custom_hooks') or []:
            htype = _type(hook)
            if htype in STOP_HOOKS:
                epoch = hook.get(STOP_HOOKS[htype])
                schedules.append(dict(type='StopDistillAtEpoch',
                                      stop_epoch=epoch))
                self.notes.append(f'{htype} -> distill.schedules '
                                  f'StopDistillAtEpoch(stop_epoch={epoch}).')
            else:
                hooks.append(hook)
        if 'custom_hooks' in cfg:
            cfg['custom_hooks'] = hooks
        if schedules:
            distill['schedules'] = schedules
        if self.student_init:
            distill['student_init'] = self.student_init
        settings = {}
        base = {k: _plain(v) for k, v in base_cfg.items()}
        for key in RUNNER_KEYS:
            if key not in cfg:
                if key == 'custom_hooks' and base.get(key):
                    settings[key] = []
                    self.notes.append(
                        "custom_hooks = []: the student config's hooks "
                        f'{[_type(h) for h in base[key]]} were not in the '
                        'MMRazor config.')
                continue
            value = cfg[key]
            if _unscoped(value) == _unscoped(base.get(key)) or (
                    value in ([], None) and not base.get(key)):
                continue
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                value = dict(_delete_=True, **value)
            settings[key] = value
        for key, value in settings.items():
            for found in _razor_types(value):
                self.problems.append(f'{key}: {found} (an MMRazor part).')
        return settings

    def _validate(self, distill: dict) -> None:
        """Every loss and connector type exists in mmkd and takes the
        arguments given (else :class:`UnmappableError`)."""
        import mmkd  # noqa: F401  (registers the losses and connectors)
        from mmkd.registry import MODELS
        problems = []
        for name, cfg in distill['losses'].items():
            parts = [('loss', {k: v for k, v in cfg.items() if k not in (
                'student', 'teacher', 'connector')})]
            if isinstance(cfg.get('connector'), dict):
                parts.append(('connector', cfg['connector']))
            for what, part in parts:
                cls = MODELS.get(part['type'])
                if cls is None:
                    problems.append(f'{name}: no mmkd {what} {part["type"]}.')
                    continue
                params = inspect.signature(cls.__init__).parameters
                if any(p.kind == p.VAR_KEYWORD for p in params.values()):
                    continue
                wrong = [k for k in part if k != 'type' and k not in params]
                if wrong:
                    problems.append(f'{name}: mmkd\'s {part["type"]} does not '
                                    f'take {wrong}.')
        if problems:
            raise UnmappableError(problems)


def _unscoped(value: Any) -> Any:
    """``value`` without the ``_scope_`` keys that mmengine adds to the
    dicts of configs read through a ``pkg::`` path."""
    if isinstance(value, dict):
        return {k: _unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return type(value)(_unscoped(v) for v in value)
    return value


def _razor_types(value: Any) -> List[str]:
    """``type`` values with the ``mmrazor.`` scope inside ``value``."""
    found = []
    if isinstance(value, dict):
        type_ = value.get('type')
        if isinstance(type_, str) and type_.startswith('mmrazor.'):
            found.append(type_)
        if value.get('_scope_') == 'mmrazor':
            found.append(f'_scope_=mmrazor in {type_}')
        for v in value.values():
            found += _razor_types(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found += _razor_types(v)
    return found


def convert_mmrazor_config(path: str) -> Conversion:
    """Convert the MMRazor distillation config at ``path``.

    Args:
        path: An MMRazor 1.x config (``SingleTeacherDistill``,
            ``FpnTeacherDistill`` or ``OverhaulFeatureDistillation`` with a
            ``ConfigurableDistiller``/``OFDDistiller``).

    Returns:
        Conversion: The mmkd config (``to_text()``) and notes.

    Raises:
        UnmappableError: Parts mmkd cannot reproduce, all of them named.
    """
    return _Converter(path).run()


def write_mmrazor_config(path: str, out: str) -> Conversion:
    """Convert ``path`` and write the mmkd config to ``out`` (nothing is
    written when :class:`UnmappableError` is raised)."""
    conversion = convert_mmrazor_config(path)
    text = conversion.to_text()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text)
    return conversion


"""MMRazor's algorithm, its ``architecture`` (the student) and its
``teacher`` as mmkd's student config and ``distill.teacher``."""
import os.path as osp
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from mmengine.config import Config

from .common import Report, UnmappableError, razor_type, to_plain
from .load import zoo_checkpoint
from .model_parts import map_model_parts
from .sources import ConfigSources

__all__ = [
    'ALGORITHMS', 'Student', 'check_algorithm', 'convert_student',
    'convert_teacher', 'convert_init_cfg'
]

ALGORITHMS = ('SingleTeacherDistill', 'FpnTeacherDistill',
              'OverhaulFeatureDistillation', 'SelfDistill')
ALGORITHM_KEYS = ('type', '_scope_', '_delete_', 'architecture', 'teacher',
                  'teacher_ckpt', 'distiller', 'data_preprocessor',
                  'teacher_trainable', 'teacher_norm_eval',
                  'student_trainable', 'calculate_student_loss',
                  'teacher_module_inplace', 'init_cfg')


class Student(NamedTuple):
    """The converted student.

    Attributes:
        bases (list[str]): The mmkd config's ``_base_``.
        settings (dict): ``model`` changes to write after the bases.
        base_cfg (Config): The config the bases give.
        init (dict, optional): ``distill.student_init`` (the zoo checkpoint
            of ``architecture.pretrained=True``).
        preprocessor (dict, optional): MMRazor's ``model.data_preprocessor``
            (it prepared the batch of both models).
        written (Config, optional): The config that ``bases`` alone give
            when it differs from ``base_cfg`` (inlined files, their keys in
            ``settings``).
    """
    bases: List[str]
    settings: Dict[str, Any]
    base_cfg: Config
    init: Optional[dict]
    preprocessor: Optional[dict]
    written: Optional[Config] = None


def check_algorithm(cfg: Config, path: str,
                    report: Report) -> Tuple[dict, str]:
    """The MMRazor config's ``model`` as a plain dict and its algorithm
    type; the algorithm's arguments mmkd has no equivalent of are reported.

    Raises:
        UnmappableError: No ``model``, or an algorithm mmkd does not
            convert.
    """
    if 'model' not in cfg:
        raise UnmappableError([f'{path} has no `model`.'])
    model = to_plain(cfg.model)
    name = razor_type(model)
    if name not in ALGORITHMS:
        raise UnmappableError([
            f'model.type {model.get("type")!r}: mmkd converts '
            f'{", ".join(ALGORITHMS)} (data-free and online '
            'distillation have no mmkd equivalent).'])
    for key in model:
        if key not in ALGORITHM_KEYS:
            report.problems.append(f'model.{key} (an argument of '
                                   f'{name} mmkd has no equivalent of)')
    if model.get('teacher_trainable'):
        report.problems.append(
            'model.teacher_trainable=True: mmkd teachers are frozen.')
    if model.get('student_trainable', True) is False:
        report.problems.append(
            'model.student_trainable=False: mmkd always trains the '
            'student.')
    if model.get('teacher_norm_eval', True) is False:
        report.problems.append(
            'model.teacher_norm_eval=False (teacher BatchNorm in train '
            'mode): mmkd keeps the whole teacher in eval mode.')
    return model, name


def convert_student(model: dict, path: str, report: Report,
                    sources: Optional[ConfigSources] = None) -> Student:
    """The student of MMRazor config ``path``: its ``architecture``'s
    ``cfg_path`` as the base, or the MMRazor config's own bases with the
    embedded model dict. ``mmrazor::`` configs (and local files that name
    renamed configs) are inlined: their package bases as the bases, what
    they add as settings (``sources`` reads them)."""
    sources = sources or ConfigSources()
    arch = model.get('architecture') or {}
    settings: Dict[str, Any] = {}
    init = preprocessor = None
    if arch.get('cfg_path'):
        extra = [k for k in arch if k not in ('cfg_path', 'pretrained')]
        if extra:
            report.problems.append(f'model.architecture.{extra[0]} next to '
                                   'cfg_path (mmengine.hub ignores it).')
        bases = [sources.package_name(arch['cfg_path'])]
        if arch.get('pretrained'):
            ckpt = zoo_checkpoint(bases[0])
            if ckpt is None:
                report.problems.append(
                    'model.architecture.pretrained=True: no checkpoint '
                    f'for {bases[0]} in its package\'s metafiles.')
            else:
                init = dict(checkpoint=ckpt)
                report.notes.append('architecture.pretrained=True -> '
                                    'distill.student_init (the zoo '
                                    f'checkpoint {ckpt}).')
    else:  # the student's model dict inside the MMRazor config
        root = osp.dirname(osp.abspath(path))
        bases = [b if '::' in b else osp.normpath(osp.join(root, b))
                 for b in Config._get_base_files(path)]
        settings['model'] = dict(_delete_=True, **arch)
        report.notes.append('The student is the model dict that the '
                            'MMRazor config embedded (architecture).')
    try:
        found = sources.portable(bases)
    except UnmappableError:
        raise
    except Exception as e:  # noqa: BLE001
        raise UnmappableError([f'the student config {bases}: cannot be '
                               f'loaded ({type(e).__name__}: {e}).'])
    bases, base_cfg, written = found.bases, found.cfg, None
    if found.written is not found.cfg:  # inlined: their bases, what they add
        found.settings.pop('find_unused_parameters', None)
        settings = {**found.settings, **settings}
        written = found.written
        report.notes.append(
            'The student\'s bases inlined (MMRazor\'s own files, or files '
            'naming configs the packages spell differently): their package '
            'configs as _base_, what the files set '
            f'({", ".join(found.settings)}) written here.')
    model_cfg = settings.get('model', to_plain(base_cfg.get('model')))
    mapped = map_model_parts(model_cfg, 'model', report)
    if mapped != model_cfg:
        settings['model'] = mapped if 'model' in settings else dict(
            _delete_=True, **mapped)
    if model.get('data_preprocessor'):
        model_type = arch.get('type') or to_plain(
            base_cfg.get('model', {})).get('type', '')
        preprocessor = _preprocessor(model['data_preprocessor'], model_type,
                                     base_cfg.get('default_scope'), report)
        student = settings.setdefault('model', {})
        # a replaced (`_delete_`) model merges nothing: no `_delete_` inside
        student['data_preprocessor'] = dict(
            preprocessor if student.get('_delete_') else
            dict(_delete_=True, **preprocessor))
    return Student(bases, settings, base_cfg, init, preprocessor, written)


def _preprocessor(cfg: dict, model_type: str, scope: Optional[str],
                  report: Report) -> dict:
    """MMRazor's ``model.data_preprocessor`` for the student. mmengine's
    ``ImgDataPreprocessor`` of MMRazor's mmcls configs becomes mmpretrain's
    ``ClsDataPreprocessor`` for an mmpretrain classifier (which gives its
    preprocessor ``batch_augments``, an argument mmengine's lacks)."""
    mmpretrain = model_type.startswith('mmpretrain.') or (
        scope == 'mmpretrain' and '.' not in model_type)
    if razor_type(cfg) != 'ImgDataPreprocessor' or not mmpretrain:
        return cfg
    out = {k: v for k, v in cfg.items()
           if k not in ('type', 'bgr_to_rgb', 'rgb_to_bgr')}
    out = dict(type='mmpretrain.ClsDataPreprocessor', **out,
               to_rgb=bool(cfg.get('bgr_to_rgb') or cfg.get('rgb_to_bgr')))
    report.notes.append(
        'model.data_preprocessor ImgDataPreprocessor -> mmpretrain\'s '
        'ClsDataPreprocessor (bgr_to_rgb as to_rgb), the preprocessor '
        'type of mmpretrain classifiers.')
    return out


def convert_teacher(model: dict, default_scope: Optional[str],
                    preprocessor: Optional[dict], report: Report,
                    sources: Optional[ConfigSources] = None) -> dict:
    """``distill.teacher``: the teacher's config (``cfg_path``, an
    ``mmrazor::`` one inlined as its model dict, or the embedded model
    dict), its checkpoint and MMRazor's shared data preprocessor
    (``preprocessor``)."""
    sources = sources or ConfigSources()
    teacher_cfg = model.get('teacher') or {}
    out: Dict[str, Any] = {}
    if teacher_cfg.get('cfg_path'):
        out['config'] = sources.package_name(teacher_cfg['cfg_path'])
        if out['config'].startswith('mmrazor::'):
            out['config'] = _inline_teacher(out['config'], sources, report)
            report.notes.append(
                f'The teacher config {teacher_cfg["cfg_path"]} (MMRazor\'s '
                'own) inlined as its model dict.')
    elif teacher_cfg:
        out['config'] = dict(
            model=map_model_parts(teacher_cfg, 'model.teacher', report),
            default_scope=default_scope)
        report.notes.append('The teacher is the model dict that the '
                            'MMRazor config embedded.')
    else:
        report.problems.append('model.teacher is missing.')
    ckpt = model.get('teacher_ckpt')
    if not ckpt and teacher_cfg.get('pretrained') and 'config' in out \
            and isinstance(out['config'], str):
        ckpt = zoo_checkpoint(out['config'])
        if ckpt:
            report.notes.append('teacher pretrained=True -> the zoo '
                                f'checkpoint {ckpt}.')
    if not ckpt:
        report.notes.append('No teacher checkpoint: set '
                            'distill.teacher.checkpoint before training.')
    out['checkpoint'] = ckpt or None
    if preprocessor:
        # merged into the teacher's config: `_delete_` replaces its model's
        # preprocessor, but stays in the dict where it has none (mmpretrain)
        replace = isinstance(_teacher_model(out.get('config'), sources).get(
            'data_preprocessor'), dict)
        out['cfg_options'] = dict(model=dict(data_preprocessor=dict(
            **(dict(_delete_=True) if replace else {}), **preprocessor)))
        report.notes.append(
            "MMRazor's model.data_preprocessor prepared the batch of "
            'both models: set for the student and the teacher.')
    return out


def _teacher_model(config: Any, sources: ConfigSources) -> dict:
    """The model dict of teacher config ``config`` (a name or a dict)."""
    if isinstance(config, dict):
        return config.get('model') or {}
    try:
        return to_plain(sources.load_bases([config]).get('model')) or {}
    except Exception:  # noqa: BLE001  (building the teacher will say why)
        return {}


def _inline_teacher(name: str, sources: ConfigSources,
                    report: Report) -> dict:
    """The parts of ``mmrazor::`` config ``name`` that build the teacher
    (see :func:`mmkd.models.teacher.build_teacher`)."""
    cfg = sources.load(sources.mmrazor_file(name))
    out = dict(model=map_model_parts(to_plain(cfg.model), 'teacher model',
                                     report),
               default_scope=cfg.get('default_scope'))
    if cfg.get('data_preprocessor'):
        out['data_preprocessor'] = to_plain(cfg.data_preprocessor)
    return out


def convert_init_cfg(model: dict, report: Report) -> Optional[dict]:
    """``distill.student_init`` for the algorithm's ``init_cfg``.

    MMRazor's ``init_cfg=dict(type='Pretrained', checkpoint=c)`` loads ``c``
    into the whole algorithm (``strict=False``) after every part ran its
    own ``init_weights``: its ``architecture.`` keys into the student, its
    ``teacher.`` keys into the teacher (over ``teacher_ckpt``) and its
    ``distiller.`` keys into the connectors. mmkd's ``student_init``
    loads the ``architecture.`` keys of such a checkpoint (prefix removed;
    a plain student checkpoint as it is) after ``init_weights``.
    Connectors loaded from a checkpoint are reported as a problem.
    """
    init = model.get('init_cfg')
    if not init:
        return None
    if not isinstance(init, dict) or init.get('type') != 'Pretrained' or \
            init.get('prefix') or not init.get('checkpoint') or \
            set(init) - {'type', 'checkpoint', 'map_location', 'prefix'}:
        report.problems.append(
            f'model.init_cfg={init!r}: mmkd maps dict(type=\'Pretrained\', '
            'checkpoint=...) (to distill.student_init) only.')
        return None
    ckpt = init['checkpoint']
    if (model.get('distiller') or {}).get('connectors'):
        report.problems.append(
            'model.init_cfg: MMRazor also loaded the checkpoint\'s '
            '`distiller.connectors.` weights into this config\'s '
            'connectors; mmkd starts connectors afresh.')
    report.notes.append(
        f'model.init_cfg Pretrained {ckpt} -> distill.student_init: the '
        'checkpoint\'s `architecture.` weights into the student after '
        'init_weights, as MMRazor loaded them (mmkd requires every student '
        'key; MMRazor loaded non-strictly).')
    report.notes.append(
        'MMRazor loaded that checkpoint\'s `teacher.` weights into the '
        'teacher too (over teacher_ckpt): python '
        f'tools/convert_mmrazor_checkpoint.py {ckpt} student.pth --teacher '
        'teacher.pth, then distill.teacher.checkpoint=\'teacher.pth\'.')
    return dict(checkpoint=ckpt)

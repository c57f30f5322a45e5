"""MMRazor's algorithm, its ``architecture`` (the student) and its
``teacher`` as mmkd's student config and ``distill.teacher``."""
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from mmengine.config import Config

from .common import Report, UnmappableError, razor_type, to_plain
from .load import abs_bases, load_bases, rescope, zoo_checkpoint

__all__ = [
    'ALGORITHMS', 'Student', 'check_algorithm', 'convert_student',
    'convert_teacher'
]

ALGORITHMS = ('SingleTeacherDistill', 'FpnTeacherDistill',
              'OverhaulFeatureDistillation')
ALGORITHM_KEYS = ('type', '_scope_', '_delete_', 'architecture', 'teacher',
                  'teacher_ckpt', 'distiller', 'data_preprocessor',
                  'teacher_trainable', 'teacher_norm_eval',
                  'student_trainable', 'calculate_student_loss',
                  'teacher_module_inplace')


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
    """
    bases: List[str]
    settings: Dict[str, Any]
    base_cfg: Config
    init: Optional[dict]
    preprocessor: Optional[dict]


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
            f'{", ".join(ALGORITHMS)} (data-free, self- and '
            'online distillation have no mmkd equivalent).'])
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


def convert_student(model: dict, path: str, report: Report) -> Student:
    """The student of MMRazor config ``path``: its ``architecture``'s
    ``cfg_path`` as the base, or the MMRazor config's own bases with the
    embedded model dict."""
    arch = model.get('architecture') or {}
    settings: Dict[str, Any] = {}
    init = preprocessor = None
    if arch.get('cfg_path'):
        extra = [k for k in arch if k not in ('cfg_path', 'pretrained')]
        if extra:
            report.problems.append(f'model.architecture.{extra[0]} next to '
                                   'cfg_path (mmengine.hub ignores it).')
        bases = [rescope(arch['cfg_path'])]
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
        bases = abs_bases(path)
        settings['model'] = dict(_delete_=True, **arch)
        report.notes.append('The student is the model dict that the '
                            'MMRazor config embedded (architecture).')
    if model.get('data_preprocessor'):
        settings.setdefault('model', {})['data_preprocessor'] = dict(
            _delete_=True, **model['data_preprocessor'])
        preprocessor = model['data_preprocessor']
    try:
        base_cfg = load_bases(bases)
    except Exception as e:  # noqa: BLE001
        raise UnmappableError([f'the student config {bases}: cannot be '
                               f'loaded ({type(e).__name__}: {e}).'])
    return Student(bases, settings, base_cfg, init, preprocessor)


def convert_teacher(model: dict, default_scope: Optional[str],
                    preprocessor: Optional[dict],
                    report: Report) -> dict:
    """``distill.teacher``: the teacher's config (``cfg_path`` or the
    embedded model dict), its checkpoint and MMRazor's shared data
    preprocessor (``preprocessor``)."""
    teacher_cfg = model.get('teacher') or {}
    out: Dict[str, Any] = {}
    if teacher_cfg.get('cfg_path'):
        out['config'] = rescope(teacher_cfg['cfg_path'])
    elif teacher_cfg:
        out['config'] = dict(model=teacher_cfg, default_scope=default_scope)
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
        out['cfg_options'] = dict(model=dict(data_preprocessor=dict(
            _delete_=True, **preprocessor)))
        report.notes.append(
            "MMRazor's model.data_preprocessor prepared the batch of "
            'both models: set for the student and the teacher.')
    return out

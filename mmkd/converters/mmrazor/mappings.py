"""MMRazor's ``ConfigurableDistiller``: each loss of ``distill_losses`` with
its ``loss_forward_mappings`` (recorders, connectors) as one mmkd
``distill.losses`` entry."""
from typing import Any, Dict, List, Optional

from .common import Report, razor_type
from .connectors import connector_cfg
from .losses import loss_args
from .recorders import record_spec

__all__ = ['DISTILLER_KEYS', 'distiller_losses']

DISTILLER_KEYS = ('type', '_scope_', 'student_recorders', 'teacher_recorders',
                  'distill_deliveries', 'connectors', 'distill_losses',
                  'loss_forward_mappings')
# losses that read the classes from the batch's data samples in mmkd,
# where MMRazor records them (``gt_labels``) from the head's loss module
LABEL_LOSSES = ('DKDLoss', 'WSLD')


def distiller_losses(distiller: dict, report: Report) -> Dict[str, dict]:
    """``distill.losses`` of an MMRazor distiller (``loss_`` prefixes
    dropped from the names).

    Args:
        distiller (dict): ``model.distiller``.
        report (Report): Collects the problems and notes.

    Returns:
        dict: The mmkd losses that could be mapped.
    """
    dtype = razor_type(distiller)
    if dtype not in ('ConfigurableDistiller', 'OFDDistiller'):
        report.problems.append(f'model.distiller.type {dtype!r} (mmkd '
                               'converts ConfigurableDistiller).')
        return {}
    for key in distiller:
        if key not in DISTILLER_KEYS:
            report.problems.append(f'model.distiller.{key}')
    if distiller.get('distill_deliveries'):
        report.problems.append(
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
            report.notes.append(f'distill_losses.{name} has no '
                                'loss_forward_mappings entry: MMRazor never '
                                'computed it, so it is left out.')
            continue
        if 'loss' not in name:
            report.problems.append(
                f'distill_losses.{name}: a name without "loss" is only '
                'logged by MMRazor, never trained on; mmkd trains every '
                'distillation loss.')
            continue
        converted = _mapped_loss(name, loss_cfg, mappings[name], recorders,
                                 connectors, used_connectors, report)
        if converted is not None:
            new_name = name[5:] if name.startswith('loss_') else name
            losses[new_name] = converted
    shared = {c: n for c, n in used_connectors.items() if len(n) > 1}
    for connector, names in shared.items():
        report.notes.append(
            f'connector {connector} was shared by {names} in MMRazor; '
            'mmkd gives each loss its own copy.')
    return losses


def _mapped_loss(name: str, loss_cfg: dict, mapping: dict,
                 recorders: Dict[str, dict], connectors: Dict[str, Any],
                 used_connectors: Dict[str, List[str]],
                 report: Report) -> Optional[dict]:
    """One MMRazor loss and its mapping as an mmkd loss, None when
    unmappable."""
    loss_type = razor_type(loss_cfg)
    items = dict(mapping)
    if loss_type in LABEL_LOSSES and 'gt_labels' in items:
        items.pop('gt_labels')
        report.loss_note(name, 'the gt_labels mapping is dropped; '
                         f"mmkd's {loss_type} reads the classes from the "
                         'data samples.')
    students = [(k, v) for k, v in items.items() if v.get('from_student')]
    teachers = [(k, v) for k, v in items.items()
                if not v.get('from_student')]
    if len(students) != 1 or len(teachers) != 1:
        report.problems.append(
            f'loss_forward_mappings.{name} maps {list(items)}: mmkd '
            'losses take one student and one teacher record.')
        return None
    (s_arg, s_item), (t_arg, t_item) = students[0], teachers[0]
    specs = [record_spec(name, s_arg, s_item, recorders, report),
             record_spec(name, t_arg, t_item, recorders, report)]
    s_conn = connector_cfg(name, s_arg, s_item, connectors, used_connectors,
                           report)
    t_conn = connector_cfg(name, t_arg, t_item, connectors, used_connectors,
                           report)
    if None in specs or s_conn is False or t_conn is False:
        return None
    out = loss_args(name, loss_type, loss_cfg, s_conn, t_conn, report)
    if out is None:
        return None
    connector = out.pop('connector')
    return dict(type=out.pop('type'), student=specs[0],
                teacher=specs[1], connector=connector, **out)

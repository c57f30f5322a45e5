"""MMRazor's distillation losses as mmkd losses, and their check against
the losses and connectors mmkd registers."""
import inspect
from typing import Optional

from .common import Report, UnmappableError
from .connectors import student_connector

__all__ = ['SAME_LOSSES', 'loss_args', 'validate_losses']

# losses with the same name, arguments and values in mmkd
SAME_LOSSES = ('PKDLoss', 'ChannelWiseDivergence', 'KLDivergence',
               'DISTLoss', 'WSLD', 'ATLoss', 'DistanceWiseRKD',
               'AngleWiseRKD', 'L1Loss', 'L2Loss', 'ABLoss')
FBKD_CONNECTOR_ARGS = ('in_channels', 'reduction', 'conv_cfg', 'norm_cfg',
                       'mode', 'sub_sample', 'maxpool_stride', 'zeros_init',
                       'spatial_T', 'channel_T')


def loss_args(name: str, loss_type: str, cfg: dict, s_conn: Optional[dict],
              t_conn: Optional[dict], report: Report) -> Optional[dict]:
    """The mmkd loss config (type and arguments, with ``connector``) of
    one MMRazor loss.

    Args:
        name (str): The loss.
        loss_type (str): Its unscoped MMRazor type.
        cfg (dict): Its MMRazor config.
        s_conn (dict, optional): The student connector
            (:func:`~.connectors.connector_cfg`).
        t_conn (dict, optional): The teacher connector.
        report (Report): Collects the problems and notes.

    Returns:
        dict, optional: The config, None when unmappable.
    """
    args = {k: v for k, v in cfg.items()
            if k not in ('type', '_scope_')}
    teacher_ok = False
    if loss_type in SAME_LOSSES:
        out = dict(type=loss_type, **args)
    elif loss_type == 'DKDLoss':
        out = dict(type='DKDLoss', **args)
        if args.get('reduction', 'batchmean') != 'batchmean':
            out['reduction'] = 'sum'
            report.loss_note(
                name, f"DKDLoss reduction {args['reduction']!r} -> 'sum' "
                "(MMRazor's DKDLoss sums over the batch for every "
                "reduction but 'batchmean').")
    elif loss_type == 'MGDLoss':
        out = dict(type='MSELoss', reduction='sum',
                   loss_weight=args.pop('alpha_mgd', 2e-5), **args)
        report.loss_note(
            name, "MGDLoss(alpha_mgd) -> MSELoss(reduction='sum', "
            'loss_weight=alpha_mgd), the same sum((S - T)^2) / N * '
            'alpha_mgd.')
    elif loss_type == 'OFDLoss':
        teacher_ok = t_conn is not None and \
            t_conn['type'] == 'OFDTeacherConnector'
        out = dict(type='OFDLoss', teacher_margin=teacher_ok, **args)
        if teacher_ok:
            report.loss_note(
                name, 'OFDTeacherConnector -> OFDLoss(teacher_margin='
                'True) (the margin from the recorded teacher '
                'BatchNorm).')
    elif loss_type == 'FBKDLoss':
        return _fbkd(name, args, s_conn, t_conn, report)
    else:
        report.problems.append(
            f'distill_losses.{name}: loss type {loss_type!r} has no mmkd '
            'equivalent.')
        return None
    connector = student_connector(name, s_conn, t_conn, teacher_ok, report)
    if connector is False:
        return None
    out['connector'] = connector
    return out


def _fbkd(name: str, args: dict, s_conn: Optional[dict],
          t_conn: Optional[dict], report: Report) -> Optional[dict]:
    """FBKD: the two connectors' settings become FBKDLoss arguments."""
    if (s_conn or {}).get('type') != 'FBKDStudentConnector' or \
            (t_conn or {}).get('type') != 'FBKDTeacherConnector':
        report.problems.append(
            f'{name}: FBKDLoss needs FBKDStudentConnector and '
            'FBKDTeacherConnector (mmkd holds both in FBKDLoss).')
        return None
    settings = {}
    for conn in (s_conn, t_conn):
        extra = [k for k in conn if k not in FBKD_CONNECTOR_ARGS
                 and k not in ('type', '_name', 'init_cfg')]
        if extra:
            report.problems.append(f'connectors.{conn["_name"]}: '
                                   f'arguments {extra}.')
            return None
        for key, value in conn.items():
            if key in FBKD_CONNECTOR_ARGS:
                settings.setdefault(key, set()).add(repr(value))
    differ = [k for k, v in settings.items() if len(v) > 1]
    if differ:
        report.problems.append(
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
    report.loss_note(
        name, 'FBKDStudentConnector/FBKDTeacherConnector settings -> '
        'FBKDLoss arguments (nonloacl_weight spelt nonlocal_weight).')
    return out


def validate_losses(losses: dict) -> None:
    """Every loss and connector type of ``distill.losses`` exists in mmkd
    and takes the arguments given.

    Raises:
        UnmappableError: The losses and connectors that do not.
    """
    import mmkd.models  # noqa: F401  (registers the losses and connectors)
    from mmkd.registry import MODELS
    problems = []
    for name, cfg in losses.items():
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

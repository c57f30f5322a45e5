"""The runner settings of an MMRazor config: the keys that differ from the
student config's, MMRazor's loops and hooks mapped to mmkd's or refused."""
from typing import Any, List

from mmengine.config import Config

from .common import Report, razor_type, to_plain

__all__ = ['RUNNER_KEYS', 'runner_settings']

# the top-level keys mmengine's Runner reads from a config
RUNNER_KEYS = (
    'default_scope', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'auto_scale_lr', 'default_hooks',
    'custom_hooks', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'randomness', 'load_from', 'resume', 'launcher', 'model_wrapper_cfg',
    'work_dir', 'experiment_name', 'custom_imports', 'data_preprocessor')
# MMRazor's hooks that stop distillation at an epoch, and their argument
STOP_HOOKS = dict(StopDistillHook='stop_epoch',
                  DistillationLossDetachHook='detach_epoch')


def runner_settings(cfg: Config, base_cfg: Config, distill: dict,
                    report: Report) -> dict:
    """The runner keys of MMRazor config ``cfg`` that differ from the
    student's bases ``base_cfg``.

    ``SingleTeacherDistillValLoop`` and the stop hooks become
    ``distill.validate_teacher`` and ``distill.schedules`` (set in
    ``distill``), ``SelfDistillValLoop`` a ``ValLoop``; other MMRazor types
    in the settings are reported as problems.

    Returns:
        dict: The settings to write after the bases.
    """
    cfg = {k: to_plain(v) for k, v in cfg.items()}
    if cfg.pop('find_unused_parameters', None) is not None:
        report.notes.append(
            'find_unused_parameters dropped: mmkd puts only the student '
            'and its connectors in DDP and needs none.')
    val_cfg = cfg.get('val_cfg')
    if razor_type(val_cfg) == 'SingleTeacherDistillValLoop':
        cfg['val_cfg'] = dict(type='ValLoop', **{
            k: v for k, v in val_cfg.items() if k != 'type'})
        distill['validate_teacher'] = True
        report.notes.append('SingleTeacherDistillValLoop -> ValLoop and '
                            'distill.validate_teacher=True.')
    elif razor_type(val_cfg) == 'SelfDistillValLoop':
        cfg['val_cfg'] = dict(type='ValLoop', **{
            k: v for k, v in val_cfg.items() if k != 'type'})
        report.notes.append('SelfDistillValLoop -> ValLoop (the same '
                            'evaluation of the student; its metrics without '
                            "MMRazor's `student.` prefix).")
    hooks, schedules = [], []
    for hook in cfg.get('custom_hooks') or []:
        htype = razor_type(hook)
        if htype in STOP_HOOKS:
            epoch = hook.get(STOP_HOOKS[htype])
            schedules.append(dict(type='StopDistillAtEpoch',
                                  stop_epoch=epoch))
            report.notes.append(f'{htype} -> distill.schedules '
                                f'StopDistillAtEpoch(stop_epoch={epoch}).')
        else:
            hooks.append(hook)
    if 'custom_hooks' in cfg:
        cfg['custom_hooks'] = hooks
    if schedules:
        distill['schedules'] = schedules
    settings = {}
    base = {k: to_plain(v) for k, v in base_cfg.items()}
    for key in RUNNER_KEYS:
        if key not in cfg:
            if key == 'custom_hooks' and base.get(key):
                settings[key] = []
                report.notes.append(
                    "custom_hooks = []: the student config's hooks "
                    f'{[razor_type(h) for h in base[key]]} were not in the '
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
            report.problems.append(f'{key}: {found} (an MMRazor part).')
    return settings


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

"""MMRazor's recorders as mmkd record specs."""
from typing import Dict, Optional

from .common import Report, razor_type

__all__ = ['RECORDERS', 'record_spec']

RECORDERS = ('ModuleOutputs', 'ModuleInputs')


def record_spec(name: str, arg: str, item: dict,
                recorders: Dict[str, dict], report: Report) -> Optional[str]:
    """The mmkd record spec of one ``loss_forward_mappings`` item.

    Args:
        name (str): The loss.
        arg (str): The loss argument the item feeds.
        item (dict): ``dict(from_student, recorder, record_idx, data_idx)``.
        recorders (dict): The ``student`` and ``teacher`` recorders.
        report (Report): Collects the problems.

    Returns:
        str, optional: The spec (``'neck.fpn[0]'``, ``'head:input'`` ...),
        None when unmappable.
    """
    side = 'student' if item.get('from_student') else 'teacher'
    recorder = recorders[side].get(item.get('recorder'))
    where = f'loss_forward_mappings.{name}.{arg}'
    if recorder is None:
        report.problems.append(f'{where}: no {side} recorder '
                               f'{item.get("recorder")!r}.')
        return None
    rtype = razor_type(recorder)
    if rtype not in RECORDERS:
        report.problems.append(
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

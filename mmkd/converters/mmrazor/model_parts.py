"""MMRazor's own model parts (``_scope_='mmrazor'`` or ``mmrazor.`` types)
inside the student's and the teacher's model dicts: mmkd's port where it
has one, a problem otherwise."""
from typing import Any

from .common import Report, razor_type

__all__ = ['RAZOR_MODELS', 'map_model_parts']

# MMRazor's model parts -> mmkd's ports (same arguments and module names,
# so MMRazor's checkpoints of them load)
RAZOR_MODELS = {'WideResNet': 'mmkd.WideResNet'}


def map_model_parts(model: Any, where: str, report: Report) -> Any:
    """``model`` with MMRazor's model parts as mmkd's (:data:`RAZOR_MODELS`,
    noted); the others are reported as problems, named by their place
    (``where``, e.g. ``'model'``)."""
    if isinstance(model, (list, tuple)):
        return type(model)(map_model_parts(v, f'{where}[{i}]', report)
                           for i, v in enumerate(model))
    if not isinstance(model, dict):
        return model
    out = {k: map_model_parts(v, f'{where}.{k}', report)
           for k, v in model.items()}
    type_ = out.get('type')
    if not isinstance(type_, str) or not (
            type_.startswith('mmrazor.') or out.get('_scope_') == 'mmrazor'):
        return out
    name = razor_type(out)
    if name in RAZOR_MODELS:
        out.pop('_scope_', None)
        out['type'] = RAZOR_MODELS[name]
        report.notes.append(f'{where}: MMRazor\'s {name} -> '
                            f'{RAZOR_MODELS[name]} (the same modules).')
    else:
        report.problems.append(f'{where}: {type_} (an MMRazor model part '
                               'mmkd lacks).')
    return out

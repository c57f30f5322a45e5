"""Make mmengine checkpoints loadable by ``torch.load(weights_only=True)``.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7
calls ``torch.load`` without that argument, so its own checkpoints (whose
message hub holds ``HistoryBuffer`` objects and numpy arrays) no longer load:
neither ``--resume`` nor ``tools/test.py`` work. This hook stores the message
hub as plain lists on save and rebuilds it on load.
"""
from typing import Any

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from mmkd.registry import HOOKS

_TAG = '__history_buffer__'


def _plain(value: Any) -> Any:
    if isinstance(value, HistoryBuffer):
        log, count = value.data
        return {_TAG: True, 'log': log.tolist(), 'count': count.tolist(),
                'max_length': value.max_length}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_TAG):
            return HistoryBuffer(value['log'], value['count'],
                                 value['max_length'])
        return {k: _restore(v) for k, v in value.items()}
    return value


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Saves the message hub and meta without numpy / HistoryBuffer objects
    (and restores them on resume)."""
    priority = 'LOWEST'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in ('message_hub', 'meta'):
            if key in checkpoint:
                checkpoint[key] = _plain(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = _restore(checkpoint['message_hub'])

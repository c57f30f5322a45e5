"""Load checkpoints with ``torch.load(weights_only=True)``: tensors, plain
containers and the few globals mmengine's checkpoints pickle besides.

A leaf: it imports nothing of mmkd, and torch, numpy and mmengine only
inside its functions, because the start-up hook (``scope_hook.py``) loads
this file by path at interpreter start, before mmkd may be imported.
"""
import os
import os.path as osp
import re
from contextlib import contextmanager
from typing import Iterator

REMOTE_PREFIXES = ('http://', 'https://', 's3://', 'open-mmlab://',
                   'torchvision://', 'mmcls://', 'pavi://')
_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_method(obj, name: str):
    """``getattr`` for unpickling: only ``HistoryBuffer``'s statistics
    methods, which every mmengine ``HistoryBuffer`` pickles by reference."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in _STATISTICS:
        return getattr(obj, name)
    import pickle
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a weights-only load.')


def mmengine_safe_globals() -> list:
    """The globals mmengine's checkpoints pickle besides tensors: its message
    hub's ``HistoryBuffer`` (with its statistics methods) and numpy arrays,
    dtypes and scalars (under numpy 1's and numpy 2's module names), for
    ``torch.serialization.safe_globals`` / ``add_safe_globals``."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    codes = '?' + np.typecodes['AllInteger'] + np.typecodes['AllFloat'] + 'US'
    allowed = [HistoryBuffer, np.ndarray, np.dtype,
               (_history_buffer_method, 'builtins.getattr')]
    allowed += list({type(np.dtype(c)) for c in codes} - {np.dtype})
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    return allowed


@contextmanager
def weights_only() -> Iterator[None]:
    """``torch.load`` calls inside load weights only (also the ones mmengine
    makes for remote files), with mmengine's few own classes allowed."""
    import torch
    key = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'
    old = os.environ.get(key)
    os.environ[key] = '1'
    try:
        with torch.serialization.safe_globals(mmengine_safe_globals()):
            yield
    finally:
        if old is None:
            del os.environ[key]
        else:
            os.environ[key] = old


def safe_load(checkpoint: str, what: str = 'teacher') -> object:
    """Load ``checkpoint`` on the CPU without running code pickled in it.

    Tensors, plain containers and what mmengine's, mmdet's and mmpose's
    checkpoints hold besides (message hub history buffers, numpy arrays and
    scalars) load; anything else is refused before it is built.

    Args:
        checkpoint: A local path or a remote address (``REMOTE_PREFIXES``).
        what: What the checkpoint is, for the error message.

    Raises:
        ValueError: the checkpoint pickles other objects; the message says
            how to convert a trusted one to a plain state dict.
    """
    import pickle

    import torch
    from mmengine.runner.checkpoint import _load_checkpoint
    try:
        with weights_only():
            if checkpoint.startswith(REMOTE_PREFIXES):
                return _load_checkpoint(checkpoint, map_location='cpu')
            return torch.load(checkpoint, map_location='cpu',
                              weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r'GLOBAL (\S+)', str(e))
        name = found.group(1) if found else str(e).splitlines()[0]
        local = not checkpoint.startswith(REMOTE_PREFIXES)
        out = osp.splitext(checkpoint if local else osp.basename(checkpoint)
                           )[0] + '_weights.pth'
        convert = (f"import torch; c = torch.load({checkpoint!r}, "
                   "weights_only=False); torch.save(dict(state_dict="
                   f"c.get('state_dict', c)), {out!r})")
        raise ValueError(
            f'The {what} checkpoint {checkpoint!r} was not loaded: it pickles '
            f'{name}, which only code could rebuild, and loading it would '
            'run that code. If you trust where it comes from, convert it '
            f'once to a plain state dict and use that file:\n'
            f'  python -c "{convert}"') from e

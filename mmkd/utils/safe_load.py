"""Load checkpoints with ``torch.load(weights_only=True)``: tensors, plain
containers and the few globals mmengine's checkpoints pickle besides.

A leaf: it imports nothing of mmkd, and torch, numpy and mmengine only
inside its functions, because the start-up hook (``scope_hook.py``) loads
this file by path at interpreter start, before mmkd may be imported.
"""
import mmap
import os
import os.path as osp
import pickletools
import re
import zipfile
from contextlib import contextmanager
from typing import Iterator, Optional

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


class BrokenCheckpointError(ValueError):
    """A checkpoint file that cannot be what ``torch.save`` wrote."""


# bytes per element of torch's typed storages, by class name
_ITEMSIZE = dict(Double=8, Float=4, Half=2, BFloat16=2, Long=8, Int=4,
                 Short=2, Char=1, Byte=1, Bool=1, ComplexDouble=16,
                 ComplexFloat=8, Untyped=1)


def _storage_bytes(pkl: bytes) -> Optional[int]:
    """The bytes of the tensor storages a ``torch.save`` pickle refers to,
    read from its opcodes without unpickling: every storage is a persistent
    id ``('storage', torch.<Type>Storage, key, location, numel)``. None when
    the pickle is cut short or names none."""
    recent, memo, storages, last = [], {}, {}, None
    try:
        for op, arg, _ in pickletools.genops(pkl):
            if op.name in ('BINPUT', 'LONG_BINPUT', 'PUT'):
                memo[arg] = last  # what the previous opcode pushed
                continue
            last = None
            if op.name in ('BINGET', 'LONG_BINGET', 'GET'):
                last = memo.get(arg)
            elif isinstance(arg, (str, int)) and not isinstance(arg, bool):
                last = arg
            if op.name == 'BINPERSID' and len(recent) >= 5 \
                    and recent[-5] == 'storage':
                kind = str(recent[-4]).split()[-1].replace('Storage', '')
                storages[recent[-3]] = recent[-1] * _ITEMSIZE.get(kind, 1)
            if last is not None:
                recent.append(last)
    except Exception:  # cut short: what was read so far says too little
        return None
    return sum(storages.values()) or None


def _truncated_zip(path: str, size: int) -> str:
    """What can be said of a zip archive without its closing directory."""
    with open(path, 'rb') as f, mmap.mmap(f.fileno(), 0,
                                          access=mmap.ACCESS_READ) as data:
        entries = []  # (data start, header start, name) of each entry
        for found in re.finditer(rb'PK\x03\x04', data):
            start = found.start()
            length = int.from_bytes(data[start + 26:start + 28], 'little')
            extra = int.from_bytes(data[start + 28:start + 30], 'little')
            name = bytes(data[start + 30:start + 30 + length])
            # torch names every entry <archive>/...; other matches are
            # tensor bytes that happen to look like a header
            ours = not entries or name.startswith(
                entries[0][2].split(b'/')[0] + b'/')
            if ours and start + 30 + length <= size:  # a whole name
                entries.append((start + 30 + length + extra, start, name))
        need = None
        if len(entries) > 1 and entries[0][2].endswith(b'/data.pkl'):
            need = _storage_bytes(bytes(data[entries[0][0]:entries[1][1]]))
    said = [f'{size:,} bytes']
    if need:
        said.append(f'the tensors it lists alone take {need:,} bytes')
    if entries:
        said.append('the last entry it reaches is '
                    f'{entries[-1][2].decode(errors="replace")!r}')
    return (f'truncated zip archive ({"; ".join(said)}; the directory of '
            'entries torch.save writes last is missing): the save was cut '
            'short, e.g. by a killed run or a full disk')


def check_checkpoint_file(path: str, what: str) -> None:
    """Refuse a local checkpoint that cannot be a complete ``torch.save``
    file, before anything is built from it: empty, not a torch file,
    a truncated zip archive or one whose entries fail their CRC-32 check
    (torch itself loads a corrupted tensor without noticing). Files saved
    without CRCs (``torch.serialization.set_crc32_options(False)``) and
    the legacy (pre-1.6) format are left to ``torch.load``.

    Raises:
        BrokenCheckpointError: naming the file, its size and what is wrong.
    """
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(4)
    problem = None
    if size == 0:
        problem = 'the file is empty (0 bytes)'
    elif head == b'PK\x03\x04':
        try:
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
                if any(i.CRC for i in infos if i.file_size):
                    bad = archive.testzip()
                    if bad is not None:
                        problem = (f'corrupted zip archive ({size:,} bytes): '
                                   f'its entry {bad!r} fails its CRC-32 '
                                   'check, the bytes are not those '
                                   'torch.save wrote')
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            problem = (_truncated_zip(path, size)
                       if 'not a zip file' in str(e) else
                       f'damaged zip archive ({size:,} bytes): {e}')
    elif not head.startswith(b'\x80'):  # the legacy format is a pickle
        problem = (f'it starts with {head!r}, where a torch.save file '
                   f"starts with b'PK\\x03\\x04' (a zip archive); "
                   f'{size:,} bytes')
    if problem:
        raise BrokenCheckpointError(
            f'The {what} checkpoint {path!r} is not a readable torch '
            f'checkpoint: {problem}.')


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
        BrokenCheckpointError: a local file is truncated, corrupted or not
            a torch checkpoint (:func:`check_checkpoint_file`).
    """
    import pickle

    import torch
    from mmengine.runner.checkpoint import _load_checkpoint
    local = not checkpoint.startswith(REMOTE_PREFIXES)
    if local:
        check_checkpoint_file(checkpoint, what)
    try:
        with weights_only():
            if not local:
                return _load_checkpoint(checkpoint, map_location='cpu')
            return torch.load(checkpoint, map_location='cpu',
                              weights_only=True)
    except pickle.UnpicklingError as e:
        if 'Weights only load failed' not in str(e):
            raise _unreadable(checkpoint, what, e) from e
        found = re.search(r'GLOBAL (\S+)', str(e))
        name = found.group(1) if found else str(e).splitlines()[0]
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
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as e:
        if not local:
            raise
        raise _unreadable(checkpoint, what, e) from e


def _unreadable(checkpoint: str, what: str, error: Exception
                ) -> BrokenCheckpointError:
    return BrokenCheckpointError(
        f'The {what} checkpoint {checkpoint!r} is not a readable torch '
        f'checkpoint ({osp.getsize(checkpoint):,} bytes): torch.load says '
        f'{type(error).__name__}: {error}')

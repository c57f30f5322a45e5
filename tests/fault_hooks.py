"""Faults for test_fault_tolerance.py, in its runners and in the training
processes it starts (their configs import this file, ``custom_imports``):
a checkpoint save cut short, a full disk, a kill while saving."""
import builtins
import errno
import os
import shutil
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

import test_distill_runner  # noqa: F401  (registers ToyNet, ToyDataset)


class HalfWrite:
    """A binary file whose first ``write`` writes half the bytes and then
    calls ``fault`` (which raises or never returns)."""

    def __init__(self, file, fault):
        self.file, self.fault = file, fault

    def write(self, data) -> int:
        self.file.write(bytes(data)[:len(data) // 2])
        self.file.flush()
        os.fsync(self.file.fileno())
        self.fault()

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


@HOOKS.register_module()
class FaultInSave(Hook):
    """At the checkpoint save of iteration ``at`` (whatever writes it):

    - ``'eio'``/``'enospc'``: the first binary file opened for writing gets
      half the checkpoint's bytes, then that ``OSError`` is raised;
    - ``'hang'``: half the bytes, then ``marker`` is created and the process
      sleeps until it is killed;
    - ``'nofree'``: the disk reports ``free`` bytes free (nothing fails).
    """

    def __init__(self, at: int, fault: str, marker: str = None,
                 free: int = 1000):
        self.at, self.fault, self.marker, self.free = at, fault, marker, free

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if checkpoint['meta'].get('iter') != self.at:
            return
        if self.fault == 'nofree':
            usage = shutil.disk_usage
            shutil.disk_usage = lambda path: usage(path)._replace(
                free=self.free)
            return
        real_open = builtins.open

        def fault():
            builtins.open = real_open
            if self.fault == 'hang':
                with open(self.marker, 'w') as f:
                    f.write('saving')
                time.sleep(600)
            code = dict(eio=errno.EIO, enospc=errno.ENOSPC)[self.fault]
            raise OSError(code, os.strerror(code))

        def cut_open(file, mode='r', *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            return HalfWrite(f, fault) if 'w' in mode and 'b' in mode else f

        builtins.open = cut_open

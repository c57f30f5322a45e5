"""Checkpoints that are complete or absent: a kill or a full disk during a
save leaves the previous checkpoint and ``last_checkpoint`` as they were.

mmengine writes a checkpoint straight under its final name and removes the
outdated one (``max_keep_ckpts``) *before* writing the new one, so a run
killed while saving can leave a truncated ``epoch_<n>.pth`` and, with
``max_keep_ckpts=1``, a ``last_checkpoint`` naming a deleted file. Here

- every checkpoint goes to ``.<name>.tmp`` in the same folder, is flushed,
  fsynced and renamed into place (``os.replace``, atomic on POSIX and
  Windows); a killed save leaves only the hidden temporary file, which the
  next save of that name overwrites;
- ``last_checkpoint`` is replaced the same way, after the rename, and the
  outdated checkpoint is removed only then;
- a full disk (``ENOSPC``/``EDQUOT``), or less free space than the
  checkpoint takes, raises :class:`CheckpointWriteError` naming the path,
  the size and the free space.

:class:`~mmkd.engine.DistillRunner` writes all its checkpoints this way and
turns the config's ``CheckpointHook`` into :class:`AtomicCheckpointHook`;
configs change nothing.
"""
import contextlib
import errno
import os
import os.path as osp
import shutil
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from mmkd.registry import HOOKS

BACKEND = 'mmkd_atomic_local'


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; nothing was replaced."""


def _mb(size: int) -> str:
    return f'{size / 2**20:.1f} MiB'


def _no_space(path: str, size: int, cause: str) -> CheckpointWriteError:
    folder = osp.dirname(osp.abspath(path))
    free = shutil.disk_usage(folder).free
    return CheckpointWriteError(
        errno.ENOSPC,
        f'The checkpoint {path} was not written: {cause}. It takes '
        f'{_mb(size)} and {folder} has {_mb(free)} free. Nothing was '
        'replaced: the previous checkpoint and last_checkpoint are as they '
        'were. Free some space (CheckpointHook(max_keep_ckpts=N) keeps '
        'fewer checkpoints) and continue with --resume.')


def atomic_write(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` in one piece: into ``.<name>.tmp`` beside
    it, flushed, fsynced, then renamed over ``path``.

    Raises:
        CheckpointWriteError: the disk is full (or has less free space than
            ``data`` takes); ``path`` is untouched.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if len(data) > shutil.disk_usage(folder).free:
        raise _no_space(path, len(data), 'not enough free space')
    tmp = osp.join(folder, f'.{osp.basename(path)}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC,
                                                  errno.EDQUOT):
            raise _no_space(path, len(data), f'{e.strerror}') from e
        raise
    # the rename itself is durable once the folder is synced (POSIX only)
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@register_backend(BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put`` (what mmengine's
    ``save_checkpoint`` writes the bytes with) is :func:`atomic_write`."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, str(filepath))


def atomic_backend_args(out_dir: str, backend_args: Optional[dict],
                        file_client_args: Optional[dict] = None
                        ) -> Optional[dict]:
    """``backend_args`` that write checkpoints of ``out_dir`` atomically:
    the :class:`AtomicLocalBackend` for a local folder with no backend
    chosen, else ``backend_args`` unchanged (remote storage is left as
    configured)."""
    if (file_client_args is None and '://' not in str(out_dir)
            and backend_args in (None, dict(backend='local'))):
        return dict(backend=BACKEND)
    return backend_args


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with a save that leaves a complete
    checkpoint behind whatever happens: the new checkpoint is written
    atomically (:func:`atomic_write`), then ``last_checkpoint`` is replaced
    atomically, and only then is the outdated checkpoint
    (``max_keep_ckpts``) removed. The message hub records the same
    ``keep_ckpt_ids``/``last_ckpt`` as mmengine's hook, so checkpoints are
    the same. :class:`DistillRunner` turns every plain ``CheckpointHook``
    into this class; its arguments are mmengine's.
    """

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        outdated = None
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch,
            backend_args=atomic_backend_args(
                self.out_dir, self.backend_args, self.file_client_args),
            **self.args)
        if not is_main_process():
            return
        atomic_write(str(self.last_ckpt).encode(),
                     osp.join(runner.work_dir, 'last_checkpoint'))
        if outdated is not None:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed's are folders
                self.file_backend.rmtree(path)


def use_atomic_checkpoint_hooks(hooks: list) -> None:
    """Turn each plain mmengine ``CheckpointHook`` in ``hooks`` into an
    :class:`AtomicCheckpointHook` (same instance and arguments; subclasses
    of ``CheckpointHook`` are left as they are)."""
    for hook in hooks:
        if type(hook) is CheckpointHook:
            hook.__class__ = AtomicCheckpointHook

"""Exact ``--resume``: the random number generators' states go into the
checkpoint and are put back before the resumed run draws its first batch.

mmengine re-seeds on resume but does not restore the generators, so random
augmentations (``RandomFlip``, ``RandomResize`` ... drawn from numpy's and
Python's global generators when ``num_workers=0``; the data loader's worker
seeds from torch's) take other values after a resume than in a run that
went through.
"""
from typing import Iterator, Optional

from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from mmkd.utils.rng_state import get_rng_state, set_rng_state


class _SetStateAfter:
    """Iterates ``iterator`` and restores ``state`` after ``skip`` items: an
    iteration-based loop reloads the batches it already trained on when it
    resumes, which must not move the restored generators."""

    def __init__(self, iterator: Iterator, skip: int, state: dict) -> None:
        self.iterator, self.skip, self.state = iterator, skip, state

    def __iter__(self) -> '_SetStateAfter':
        return self

    def __next__(self):
        item = next(self.iterator)
        self.skip -= 1
        if self.skip == 0:
            set_rng_state(self.state)
        return item


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Saves the generator states as ``checkpoint['rng_state']`` and restores
    them when training resumes from that checkpoint.

    Rank 0 writes the checkpoints, so its states are saved. On resume every
    rank restores them, except under ``randomness.diff_rank_seed=True``,
    where the ranks' generators differ and ranks other than 0 keep their
    fresh seeds. :class:`DistillRunner` registers this hook, and so does
    mmkd's ``tools/train.py`` for any config.
    """
    priority = 'LOWEST'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._pending_iter: Optional[int] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # restored in before_train: mmengine's resume may re-seed after this
        self._pending = checkpoint.get('rng_state')
        self._pending_iter = checkpoint.get('meta', {}).get('iter')

    def before_train(self, runner) -> None:
        state, self._pending = self._pending, None
        if state is None or self._pending_iter != runner.iter:
            return  # nothing saved, or loaded as weights (not resumed)
        randomness = runner.cfg.get('randomness') or {}
        if runner.rank != 0 and randomness.get('diff_rank_seed', False):
            return
        loop = runner.train_loop
        if runner.iter > 0 and hasattr(loop, 'dataloader_iterator'):
            loop.dataloader_iterator = _SetStateAfter(
                loop.dataloader_iterator, runner.iter, state)
        else:
            set_rng_state(state)

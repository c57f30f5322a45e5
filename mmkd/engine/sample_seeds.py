"""Exact ``--resume`` with ``num_workers > 0``: every sample's random draws
are seeded from the run's seed, the rank, the epoch and the sample's
position in that epoch.

mmengine seeds each worker once, when it starts, with ``seed + worker_id
(+ num_workers * rank)``. Workers of a ``persistent_workers`` loader then
keep drawing across epochs, but a resumed run starts fresh ones: its first
epoch draws what the uninterrupted run drew in epoch 1. (Loaders without
persistent workers restart theirs every epoch, so every epoch repeats the
first one's draws, on other samples when shuffled.)

Re-seeding the workers at each epoch would need the epoch in the workers,
and the draws would still depend on which worker loads which batch. Here
the batch sampler tags each index with its key ``(seed, rank, epoch,
position)`` (an ``int`` that carries it), and every worker seeds Python's
``random``, numpy's and torch's global generators from the key before it
loads the sample. A sample's draws are thus a function of the key alone:
the same after a resume at an epoch boundary, after a mid-epoch resume of
an iteration-based loop, for any ``num_workers`` and with or without
persistent workers. The epoch is the sampler's ``epoch`` (``set_epoch``,
as mmengine's ``DefaultSampler``); a sampler without one (mmengine's
``InfiniteSampler``, a single pass) counts its passes.

Loaders with ``num_workers=0`` are left alone: their pipelines draw from the
main process's generators, which :class:`RNGStateHook` restores. A
pipeline that keeps state across samples (a cache of earlier images, as
mmdet's ``Mosaic(use_cached=True)``) still differs after a resume.
:class:`DistillRunner` keys every loader it builds; ``sample_seeds=False``
in a dataloader config (``--cfg-options train_dataloader.sample_seeds=False``)
keeps mmengine's seeding.
"""
import operator
import random
import types
from functools import partial
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import get_rank
from torch.utils.data import DataLoader, get_worker_info


class _KeyedIndex(int):
    """A dataset index that carries the key its sample is seeded from."""

    def __new__(cls, index: int, key: Tuple[int, ...]) -> '_KeyedIndex':
        obj = super().__new__(cls, index)
        obj.key = key
        return obj

    def __reduce__(self):  # sent to the workers through a queue
        return _KeyedIndex, (int(self), self.key)


def seed_from_key(key: Sequence[int]) -> None:
    """Seed Python's, numpy's and torch's global generators from ``key``
    (non-negative integers) through numpy's ``SeedSequence``."""
    words = np.random.SeedSequence(list(key)).generate_state(4)  # uint32
    random.seed(int.from_bytes(words.tobytes(), 'little'))
    np.random.seed(words)
    torch.manual_seed(int(words[2]) << 32 | int(words[3]))


class _KeyedBatchSampler:
    """Yields the batches of ``batch_sampler`` with every index keyed by
    ``(seed, rank, epoch, position)``; other attributes (``sampler``,
    ``batch_size`` ...) are the wrapped sampler's."""

    def __init__(self, batch_sampler: Any, seed: int, rank: int) -> None:
        self.batch_sampler = batch_sampler
        self.seed, self.rank, self.passes = seed % 2**64, rank, 0

    def __iter__(self) -> Iterator[List]:
        epoch = getattr(getattr(self.batch_sampler, 'sampler', None),
                        'epoch', None)
        epoch = self.passes if epoch is None else epoch
        self.passes += 1
        position = 0
        for batch in self.batch_sampler:
            keyed = []
            for index in batch:
                key = (self.seed, self.rank, epoch, position)
                try:
                    keyed.append(_KeyedIndex(operator.index(index), key))
                except TypeError:  # not an integer: passed on unseeded
                    keyed.append(index)
                position += 1
            yield keyed

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __getattr__(self, name: str) -> Any:
        if name == 'batch_sampler':  # not set yet (copy, unpickling)
            raise AttributeError(name)
        return getattr(self.batch_sampler, name)


def _seeded_items(dataset: Any, indices: Sequence) -> list:
    """The samples of ``indices``, each loaded after seeding from its key
    (the worker's ``dataset.__getitems__``, which torch's fetcher calls)."""
    samples = []
    for index in indices:
        key = getattr(index, 'key', None)
        if key is not None:
            seed_from_key(key)
            index = int(index)
        samples.append(dataset[index])
    return samples


def _worker_init(worker_id: int, init_fn: Optional[Callable] = None) -> None:
    """The loader's own ``worker_init_fn``, then keyed loading in this
    worker's copy of the dataset."""
    if init_fn is not None:
        init_fn(worker_id)
    dataset = get_worker_info().dataset
    dataset.__getitems__ = types.MethodType(_seeded_items, dataset)


def seed_samples(loader: DataLoader, seed: Optional[int]) -> DataLoader:
    """Make ``loader``'s workers seed every sample from its key (see the
    module's docstring); before its first iteration. A loader with
    ``num_workers=0``, without a batch sampler (``batch_size=None``) or
    without a ``seed`` is returned unchanged."""
    if (seed is None or not isinstance(loader, DataLoader)
            or loader.num_workers == 0 or loader.batch_sampler is None
            or isinstance(loader.batch_sampler, _KeyedBatchSampler)):
        return loader
    # DataLoader refuses a new batch sampler once built; this one yields the
    # same batches
    object.__setattr__(loader, 'batch_sampler', _KeyedBatchSampler(
        loader.batch_sampler, seed, get_rank()))
    loader.worker_init_fn = partial(_worker_init,
                                    init_fn=loader.worker_init_fn)
    return loader

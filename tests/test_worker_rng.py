"""Exact ``--resume`` with data loader workers (issue 24):
mmkd.engine.sample_seeds, through tools/train.py's runner (a DistillRunner
for plain configs too), on the small classifier of test_distill_runner with
a pipeline that draws from Python's, numpy's and torch's generators."""
import os.path as osp
import pickle
import random
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.registry import MODELS as ROOT_MODELS
from torch.utils.data import get_worker_info

from conftest import REPO
from mmkd import DistillRunner
from mmkd.engine.sample_seeds import _KeyedIndex, seed_from_key
from test_distill_runner import ToyDataset, ToyNet

sys.path.insert(0, osp.join(REPO, 'tools'))
from train import build_runner  # noqa: E402


@ROOT_DATASETS.register_module(force=True)
class DrawToyDataset(ToyDataset):
    """ToyDataset whose augmentation draws from the three global
    generators; the draws and the worker's id go with the sample."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        draws = torch.tensor([random.random(), np.random.rand(),
                              float(torch.rand(()))], dtype=torch.float64)
        x = item['inputs'] * (0.5 + draws[0].float()) + draws[1].float()
        x = x + 0.1 * torch.randn(x.shape)
        info = get_worker_info()
        return dict(inputs=x, data_samples=dict(
            label=item['data_samples'], draws=draws,
            worker=-1 if info is None else info.id))


@ROOT_MODELS.register_module(force=True)
class DrawToyNet(ToyNet):
    """ToyNet reading its labels from DrawToyDataset's data samples."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        labels = None if data_samples is None else data_samples['label']
        return super().forward(inputs, labels, mode)


class DrawLog(Hook):
    """The draws and workers of every training batch."""
    priority = 'LOWEST'

    def __init__(self):
        self.draws, self.workers = [], set()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        samples = data_batch['data_samples']
        self.draws.append(samples['draws'].clone())
        self.workers.update(samples['worker'].tolist())


def cfg(work_dir, persistent: bool, by_epoch: bool = True,
        keyed: bool = True, workers: int = 2) -> dict:
    loader = dict(
        dataset=dict(type='DrawToyDataset'), batch_size=4,
        num_workers=workers,
        persistent_workers=persistent,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'))
    if not keyed:
        loader['sample_seeds'] = False
    return dict(
        model=dict(type='DrawToyNet', width=4), work_dir=str(work_dir),
        train_dataloader=loader,
        # 4 iterations an epoch: the iteration-based run saves mid-epoch
        train_cfg=dict(by_epoch=True, max_epochs=2) if by_epoch else
        dict(by_epoch=False, max_iters=8),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1) if by_epoch
            else dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), default_scope='mmengine')


def run(config: dict, stop=None, resume_from=None):
    config = Config(config)
    if stop:
        config.train_cfg.update(stop)
    if resume_from:
        config.resume, config.load_from = True, resume_from
    runner = build_runner(config)
    assert isinstance(runner, DistillRunner)  # a plain config gets it too
    log = DrawLog()
    runner.register_hook(log)
    runner.train()
    return runner, log


def full_and_resumed(tmp_path, by_epoch=True, **kwargs):
    """The uninterrupted run, and the run stopped (after epoch 1, or at
    iteration 2: mid-epoch) and resumed."""
    full, full_log = run(cfg(tmp_path / 'full', by_epoch=by_epoch, **kwargs))
    part_cfg = cfg(tmp_path / 'part', by_epoch=by_epoch, **kwargs)
    stop = dict(max_epochs=1) if by_epoch else dict(max_iters=2)
    run(part_cfg, stop)
    name = 'epoch_1.pth' if by_epoch else 'iter_2.pth'
    resumed, resumed_log = run(part_cfg, resume_from=osp.join(
        part_cfg['work_dir'], name))
    assert resumed.iter == full.iter == 8
    assert full_log.workers == {0, 1}  # the samples came from 2 workers
    return full, full_log, resumed, resumed_log


def same_weights(a, b) -> bool:
    b_state = b.model.state_dict()
    return all(torch.equal(v, b_state[k])
               for k, v in a.model.state_dict().items())


@pytest.mark.parametrize('persistent', [True, False])
def test_resume_at_an_epoch_boundary_is_exact(tmp_path, persistent):
    full, full_log, resumed, resumed_log = full_and_resumed(
        tmp_path, persistent=persistent)
    assert len(resumed_log.draws) == 4
    for got, want in zip(resumed_log.draws, full_log.draws[4:]):
        assert torch.equal(got, want)
    assert same_weights(resumed, full)
    # epoch 2 draws anew (mmengine's seeding alone repeats epoch 1's draws
    # when the workers restart every epoch)
    assert not torch.equal(torch.stack(full_log.draws[:4]),
                           torch.stack(full_log.draws[4:]))
    if persistent:  # the draws do not depend on the number of workers
        one, one_log = run(cfg(tmp_path / 'one', persistent, workers=1))
        assert one_log.workers == {0}
        assert torch.equal(torch.stack(one_log.draws),
                           torch.stack(full_log.draws))
        assert same_weights(one, full)


def test_mid_epoch_resume_of_an_iteration_loop_is_exact(tmp_path):
    full, full_log, resumed, resumed_log = full_and_resumed(
        tmp_path, by_epoch=False, persistent=True)
    # the resumed loop reloads the 2 batches it trained on, then goes on
    assert len(resumed_log.draws) == 6
    for got, want in zip(resumed_log.draws, full_log.draws[2:]):
        assert torch.equal(got, want)
    assert same_weights(resumed, full)


def test_without_sample_seeds_persistent_workers_redraw_epoch_1(tmp_path):
    """``sample_seeds=False`` (mmengine's seeding): the resumed run's fresh
    workers draw what the uninterrupted run drew in epoch 1."""
    full, full_log, resumed, resumed_log = full_and_resumed(
        tmp_path, persistent=True, keyed=False)
    assert torch.equal(torch.stack(resumed_log.draws),
                       torch.stack(full_log.draws[:4]))
    assert not torch.equal(torch.stack(resumed_log.draws),
                           torch.stack(full_log.draws[4:]))
    assert not same_weights(resumed, full)


def test_keys_pickle_and_seed_all_three_generators():
    index = pickle.loads(pickle.dumps(_KeyedIndex(5, (0, 0, 1, 7))))
    assert index == 5 and index.key == (0, 0, 1, 7)
    draws = []
    for key in ((0, 0, 1, 7), (0, 0, 1, 7), (0, 0, 2, 7), (0, 1, 1, 7)):
        seed_from_key(key)
        draws.append((random.random(), np.random.rand(),
                      float(torch.rand(()))))
    assert draws[0] == draws[1]
    assert all(a != b for a, b in zip(draws[0], draws[2]))  # other epoch
    assert all(a != b for a, b in zip(draws[0], draws[3]))  # other rank

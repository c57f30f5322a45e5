"""A hook that test_pskd.py's DDP config imports (``custom_imports``) into
the training processes: each rank saves its PS-KD memory."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpPSKDMemory(Hook):
    """Saves ``<work_dir>/memory_rank<r>.pt`` (the rank's PS-KD memory and
    the indices it trained on) after training."""
    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        self.seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.seen += [int(d.metainfo['sample_idx'])
                      for d in data_batch['data_samples']]

    def after_train(self, runner) -> None:
        memory = runner.model.distill_losses['pskd'].memory.predictions
        torch.save(dict(memory=memory.cpu(), seen=self.seen),
                   osp.join(runner.work_dir, f'memory_rank{runner.rank}.pt'))

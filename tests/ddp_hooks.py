"""Helpers that test_ddp.py's configs import (``custom_imports``) into the
training processes it launches with torchrun."""
import json
import os.path as osp

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.registry import HOOKS

from mmkd.registry import MODELS


def _sums(module: torch.nn.Module) -> list:
    return [float(p.double().sum()) for p in module.parameters()]


@HOOKS.register_module()
class DumpRankFacts(Hook):
    """Writes what this rank sees to ``<work_dir>/rank<r>.json``: the
    parameters right after DDP was built (``before_train``) and the teacher's
    and the log's state after training."""
    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        model = runner.model
        self.facts = dict(
            seed=torch.initial_seed(),
            start_connectors=_sums(model.connectors),
            start_student=_sums(model.module))

    def after_train(self, runner) -> None:
        model = runner.model
        ddp = model.ddp
        wrapped = {id(p) for p in ddp.module.parameters()}
        teacher = list(model.teacher.parameters())
        self.facts.update(
            world_size=runner.world_size,
            model=type(model).__name__,
            ddp=type(ddp).__name__,
            find_unused_parameters=ddp.find_unused_parameters,
            teacher_training=any(m.training for m in model.teacher.modules()),
            teacher_requires_grad=any(p.requires_grad for p in teacher),
            teacher_wrapped=any(id(p) in wrapped for p in teacher),
            student_wrapped=all(id(p) in wrapped
                                for p in model.module.parameters()),
            connectors_wrapped=all(id(p) in wrapped
                                   for p in model.connectors.parameters()),
            end_connectors=_sums(model.connectors),
            factors=dict(model.loss_factors),
            logged=sorted(k for k in runner.message_hub.log_scalars
                          if 'distill' in k))
        path = osp.join(runner.work_dir, f'rank{runner.rank}.json')
        with open(path, 'w') as f:
            json.dump(self.facts, f)


@MODELS.register_module()
class NaNOnRank(torch.nn.Module):
    """MSE that is NaN on ``rank`` from training iteration ``at_iter`` on."""

    def __init__(self, rank: int = 1, at_iter: int = 1) -> None:
        super().__init__()
        self.rank, self.at_iter = rank, at_iter

    def forward(self, student, teacher):
        loss = F.mse_loss(student, teacher)
        iteration = MessageHub.get_current_instance().get_info('iter')
        if (get_rank() == self.rank and iteration is not None
                and iteration >= self.at_iter):
            return loss * float('nan')
        return loss

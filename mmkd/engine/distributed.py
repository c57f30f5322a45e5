"""Distributed (DDP) training for :class:`DistillRunner`.

- :func:`init_cpu_dist`: mmengine's ``init_dist`` for machines without a GPU
  (gloo; mmengine 0.10.7 calls ``torch.cuda.set_device`` there).
- :class:`DistillDDPModule`: what DDP wraps for a distillation model: the
  student and the trainable distillation parts, never the teacher.
- :func:`unreached_params`: the trainable parameters no loss reaches, which
  get a zero-valued gradient each step so that DDP needs no
  ``find_unused_parameters``.
- :func:`finish_distributed`: a clean end for the processes of mmkd's tools.
"""
import datetime
import logging
import os
import random
import subprocess
import sys
from typing import Any, List, Optional

import numpy as np
import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.logging import print_log

_GPU_BACKENDS = ('nccl', 'hccl', 'cncl', 'mccl')


def init_cpu_dist(launcher: str,
                  backend: str = 'gloo',
                  port: Optional[int] = None,
                  timeout: Optional[float] = None,
                  init_backend: str = 'torch',
                  **kwargs) -> None:
    """Start the process group of ``launcher`` on a machine without a GPU.

    Reads what ``mmengine.dist.init_dist`` reads (``RANK``/``WORLD_SIZE``/
    ``LOCAL_RANK`` set by torchrun for 'pytorch', ``SLURM_*`` for 'slurm',
    ``OMPI_COMM_WORLD_*`` for 'mpi') and sets the same environment
    variables, but never touches CUDA. A GPU backend (the configs' usual
    ``dist_cfg=dict(backend='nccl')``) is replaced by gloo.

    Args:
        launcher (str): 'pytorch', 'slurm' or 'mpi'.
        backend (str): The ``dist_cfg`` backend. Defaults to 'gloo'.
        port (int, optional): Master port for slurm (else ``MASTER_PORT``,
            else 29500).
        timeout (float, optional): Collective timeout in seconds.
        init_backend (str): Only 'torch' is supported on CPU.
        **kwargs: Passed to ``torch.distributed.init_process_group``.
    """
    env = os.environ
    if launcher == 'pytorch':
        rank, world_size = int(env['RANK']), int(env['WORLD_SIZE'])
    elif launcher in ('slurm', 'mpi'):
        if launcher == 'slurm':
            rank, world_size = int(env['SLURM_PROCID']), int(
                env['SLURM_NTASKS'])
            local_rank = env.get('SLURM_LOCALID', '0')
            if 'MASTER_ADDR' not in env:
                env['MASTER_ADDR'] = subprocess.getoutput(
                    f'scontrol show hostname {env["SLURM_NODELIST"]} '
                    '| head -n1')
        else:
            rank, world_size = int(env['OMPI_COMM_WORLD_RANK']), int(
                env['OMPI_COMM_WORLD_SIZE'])
            local_rank = env['OMPI_COMM_WORLD_LOCAL_RANK']
            if 'MASTER_ADDR' not in env:
                raise KeyError('The environment variable MASTER_ADDR is not '
                               'set (needed by the mpi launcher).')
        if port is not None:
            env['MASTER_PORT'] = str(port)
        env.setdefault('MASTER_PORT', '29500')
        env.update(RANK=str(rank), WORLD_SIZE=str(world_size),
                   LOCAL_RANK=str(local_rank))
    else:
        raise ValueError(f'Invalid launcher type: {launcher}')
    if init_backend != 'torch':
        raise ValueError(f'init_backend={init_backend!r} needs a GPU; on the '
                         "CPU only 'torch' is supported.")
    note = None
    if backend in _GPU_BACKENDS:
        note = (f'mmkd: no GPU, so the distributed backend is gloo instead '
                f'of the config\'s {backend!r}.')
        backend = 'gloo'
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend=backend, rank=rank, world_size=world_size, **kwargs)
    if note:
        print_log(note, logger='current', level=logging.WARNING)


def finish_distributed() -> None:
    """End the process of a distributed run whose work is done: wait for
    every rank, destroy the process group, flush the logs and exit without
    the interpreter's finalization. On the CPU (torch 2.14, gloo) that
    finalization sometimes aborts a rank after training has finished
    ("terminate called without an active exception", exit -6): seen in
    about 1 of 5 runs of ``torchrun ... tools/train.py`` on 2 busy cores."""
    if not torch_dist.is_initialized():
        return
    torch_dist.barrier()
    torch_dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def has_sync_bn(model: nn.Module) -> bool:
    """Whether ``model`` has torch's or mmcv's SyncBatchNorm."""
    return any('SyncBatchNorm' in type(m).__name__ for m in model.modules())


class DistillDDPModule(nn.Module):
    """The part of a :class:`DistillModel` that DDP wraps and synchronises:
    the student, the connectors and the distillation loss modules. The
    teacher is not a submodule: DDP neither broadcasts nor all-reduces it.

    Its forward is the distillation model's (``mode='loss'``: the student's
    and the distillation losses), so the whole training forward runs inside
    ``DistributedDataParallel.forward``.

    Args:
        model (DistillModel): The set-up distillation model.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.student = model.module
        self.connectors = model.connectors
        self.distill_losses = model.distill_losses
        object.__setattr__(self, 'model', model)  # not a submodule

    def forward(self, *args, **kwargs) -> Any:
        return self.model(*args, **kwargs)


def unreached_params(model: nn.Module, data_batch: Any) -> List[nn.Parameter]:
    """The trainable parameters of ``model`` (a set-up DistillModel, all its
    losses active) that its total training loss does not reach on
    ``data_batch``, e.g. the student's head when only features are distilled
    (``student_gt_loss=False``). One forward and backward; buffers and the
    random states are left as they were."""
    params = [p for p in DistillDDPModule(model).parameters()
              if p.requires_grad]
    buffers = [b for b in DistillDDPModule(model).buffers()]
    saved = [b.clone() for b in buffers]
    states = (random.getstate(), np.random.get_state(),
              torch.get_rng_state())
    try:
        data = model.module.data_preprocessor(data_batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])
        total, _ = model.module.parse_losses(losses)
        grads = torch.autograd.grad(total, params, allow_unused=True)
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved):
                buffer.copy_(value)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
    return [p for p, g in zip(params, grads) if g is None]

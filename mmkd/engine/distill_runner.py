"""A Runner that wraps ``cfg.model`` for distillation when ``distill`` is in
the config, and builds the teacher only when training starts."""
import copy
import os
import os.path as osp
import random
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.device import get_device
from mmengine.dist import barrier, is_distributed
from mmengine.model import (MMDistributedDataParallel, convert_sync_batchnorm,
                            is_model_wrapper, revert_sync_batchnorm)
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner, find_latest_checkpoint
from torch.utils.data import DataLoader

from mmkd.models.distill_model import DistillLossError, DistillModel
from mmkd.models.loss_builder import mmkd_cfg
from mmkd.registry import HOOKS, MODEL_WRAPPERS, RUNNERS
from mmkd.utils.safe_load import check_checkpoint_file
from mmkd.utils.scope_hook import route_distill_configs
from mmkd.utils.spconv_cpu import allow_spconv_on_cpu
from .atomic_checkpoint import (CheckpointWriteError, atomic_backend_args,
                                use_atomic_checkpoint_hooks)
from .distill_checkpoint_hook import DistillCheckpointHook
from .distributed import (DistillDDPModule, has_sync_bn, init_cpu_dist,
                          unreached_params)
from .kd_doctor_hook import KDDoctorHook
from .nonfinite_grad_hook import NonFiniteGradHook
from .rng_state_hook import RNGStateHook
from .sample_seeds import seed_samples
from .validate_teacher_hook import ValidateTeacherHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

# `distill` keys used by the runner, the rest go to DistillModel.
_RUNNER_KEYS = ('schedules', 'nonfinite_grad_patience', 'on_nonfinite_grad',
                'diagnose', 'validate_teacher')


@RUNNERS.register_module()
class DistillRunner(Runner):
    """mmengine's Runner plus distillation from the config's ``distill`` key.

    - ``cfg.model`` (the user's student, unchanged) is wrapped in a
      :class:`DistillModel`; ``distill.schedules`` become hooks.
    - ``train()`` builds the teacher, probes shapes on one batch, builds the
      connectors and losses and adds their parameters to the optimizer as
      an extra parameter group. ``test()``/``val()`` never build a teacher.
    - Checkpoints load with ``torch.load(weights_only=True)`` (torch >= 2.6
      default), so mmdet's/mmpose's own ``tools/test.py`` and ``--resume``
      work on them.
    - Distributed (``--launcher pytorch|slurm|mpi``): after the set-up,
      the student, connectors and loss modules are wrapped in DDP, not the
      teacher; without a GPU the process group uses gloo
      (``mmkd.engine.distributed``). Plain configs train on the CPU too.
    - Before the first iteration the KD doctor's checks run on one batch,
      the teacher alone on the first 64 training samples (outliers in its
      maps), and are logged (:class:`KDDoctorHook`;
      ``distill.diagnose=False`` turns them off,
      ``distill.diagnose=dict(scan_samples=N)`` sets the scan).
    - ``distill.validate_teacher=True`` evaluates the teacher on the val set
      before training and logs its metrics beside the student's
      (:class:`ValidateTeacherHook`).
    - A NaN/Inf distillation loss stops training after saving the state
      from before that iteration as ``last_good_iter_<n>.pth`` in the work
      dir (nothing when the weights themselves are no longer finite).
    - Checkpoints and ``last_checkpoint`` are written atomically, the
      outdated checkpoint removed only after the new one is in place, a
      full disk stops the run naming the path and the free space
      (:mod:`mmkd.engine.atomic_checkpoint`); a truncated or corrupted
      ``load_from``/resume checkpoint is refused before it is loaded.
    - Data loader workers seed every sample from (seed, rank, epoch,
      position), so ``--resume`` is exact with ``num_workers > 0`` too
      (:mod:`mmkd.engine.sample_seeds`; ``sample_seeds=False`` in a
      dataloader config turns it off).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_hook(WeightsOnlyCheckpointHook())
        self.register_hook(RNGStateHook())
        if isinstance(self.model, DistillModel):
            self.register_hook(DistillCheckpointHook())
            distill = self.cfg.get('distill') or {}
            self.register_hook(NonFiniteGradHook(
                distill.get('nonfinite_grad_patience', 3),
                distill.get('on_nonfinite_grad', 'stop')))
            for hook in (self.cfg.get('distill') or {}).get('schedules', []):
                self.register_hook(HOOKS.build(mmkd_cfg(hook)))
            diagnose = distill.get('diagnose', True)
            if diagnose:
                self.register_hook(KDDoctorHook(
                    **(diagnose if isinstance(diagnose, dict) else {})))
            if distill.get('validate_teacher', False):
                self.register_hook(ValidateTeacherHook())

    def register_hook(self, hook, priority=None) -> None:
        """mmengine's; a plain ``CheckpointHook`` becomes an
        :class:`AtomicCheckpointHook`."""
        super().register_hook(hook, priority)
        use_atomic_checkpoint_hooks(self._hooks)

    def save_checkpoint(self, out_dir: str, filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """mmengine's, written atomically into a local folder."""
        try:
            super().save_checkpoint(
                out_dir, filename, file_client_args, save_optimizer,
                save_param_scheduler, meta, by_epoch,
                atomic_backend_args(out_dir, backend_args, file_client_args))
        except CheckpointWriteError as e:
            self.logger.error(str(e))
            raise

    @staticmethod
    def build_dataloader(dataloader: Union[DataLoader, Dict],
                         seed: Optional[int] = None,
                         diff_rank_seed: bool = False) -> DataLoader:
        """mmengine's; then, unless the config says ``sample_seeds=False``,
        the workers seed every sample from its key (:func:`seed_samples`)."""
        keyed = True
        if isinstance(dataloader, dict) and 'sample_seeds' in dataloader:
            dataloader = copy.copy(dataloader)
            keyed = dataloader.pop('sample_seeds')
        loader = Runner.build_dataloader(dataloader, seed, diff_rank_seed)
        return seed_samples(loader, seed) if keyed else loader

    def load_checkpoint(self, filename: str, *args, **kwargs) -> dict:
        """mmengine's, after refusing a local file that cannot be a
        complete checkpoint (truncated, corrupted, not a torch file)."""
        if isinstance(filename, str) and '://' not in filename \
                and osp.isfile(filename):
            check_checkpoint_file(
                filename, 'resume' if self._resume else 'load_from')
        return super().load_checkpoint(filename, *args, **kwargs)

    def build_model(self, model: Union[nn.Module, Dict]) -> nn.Module:
        distill = self.cfg.get('distill')
        if distill and isinstance(model, dict) and 'DistillModel' not in str(
                model.get('type')):
            model = dict(
                type='mmkd.DistillModel', student=model,
                **{k: v for k, v in distill.items() if k not in _RUNNER_KEYS})
        return super().build_model(model)

    def setup_env(self, env_cfg: Dict) -> None:
        """mmengine's, but without a GPU the process group is started by
        :func:`init_cpu_dist` (gloo; mmengine's ``init_dist`` would call
        ``torch.cuda.set_device``)."""
        if (self.distributed and not is_distributed()
                and get_device() == 'cpu'):
            init_cpu_dist(self.launcher, **env_cfg.get('dist_cfg', {}))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: nn.Module) -> nn.Module:
        """A :class:`DistillModel` is not wrapped here: its trainable parts
        exist only after :meth:`train` built them; it wraps them in DDP
        then. Other models are wrapped as mmengine does, on the CPU too."""
        on_cpu = get_device() == 'cpu'
        if on_cpu and allow_spconv_on_cpu():  # mmdet3d's SECOND & co.
            self.logger.info('mmkd: spconv runs on the CPU (null stream)')
        if not isinstance(model, DistillModel):
            if not (self.distributed and on_cpu) or is_model_wrapper(model):
                return super().wrap_model(model_wrapper_cfg, model)
            return self._ddp(self._cpu_sync_bn(model), model_wrapper_cfg)
        model = model.to(get_device())
        if not self.distributed:
            model.revert_sync_batchnorm()
        elif on_cpu:
            model.module = self._cpu_sync_bn(model.module)
        elif self.cfg.get('sync_bn') is not None:
            model.module = convert_sync_batchnorm(model.module,
                                                  self.cfg.sync_bn)
        return model

    def _cpu_sync_bn(self, model: nn.Module) -> nn.Module:
        """``model`` with SyncBN reverted to BN (it needs CUDA)."""
        if not has_sync_bn(model):
            return model
        self.logger.warning('mmkd: SyncBatchNorm needs GPUs; on the CPU '
                            'every rank uses BatchNorm on its own batch.')
        return revert_sync_batchnorm(model)

    def _ddp(self, module: nn.Module, model_wrapper_cfg: Optional[Dict]
             ) -> nn.Module:
        """``module`` in the DDP wrapper of ``model_wrapper_cfg`` (default
        ``MMDistributedDataParallel``, ``broadcast_buffers=False`` and the
        config's ``find_unused_parameters``, as mmengine does)."""
        cfg = dict(model_wrapper_cfg or dict(
            find_unused_parameters=self.cfg.get('find_unused_parameters',
                                                False)))
        wrapper = cfg.pop('type', MMDistributedDataParallel)
        if isinstance(wrapper, str):
            wrapper = MODEL_WRAPPERS.get(wrapper)
        if not (isinstance(wrapper, type) and issubclass(
                wrapper, nn.parallel.DistributedDataParallel)):
            raise TypeError(
                f'mmkd trains distributed with DistributedDataParallel; '
                f'model_wrapper_cfg type {model_wrapper_cfg.get("type")!r} '
                'is not supported.')
        cfg.setdefault('broadcast_buffers', False)
        device_ids = None if get_device() == 'cpu' else [
            int(os.environ['LOCAL_RANK'])]
        return wrapper(module=module, device_ids=device_ids, **cfg)

    def _wrap_distill_ddp(self, model: DistillModel) -> None:
        """Wrap the student, connectors and loss modules (not the teacher)
        in DDP; DDP's construction broadcasts rank 0's parameters, so the
        connectors are the same on all ranks."""
        if not model.student_gt_loss:  # e.g. the student's head: no gradient
            model.ddp_unreached = unreached_params(model, self._probe_batch())
        ddp = self._ddp(DistillDDPModule(model),
                        self.cfg.get('model_wrapper_cfg'))
        object.__setattr__(model, 'ddp', ddp)  # not a submodule
        self.logger.info(
            f'mmkd: {type(ddp).__name__} wraps the student and '
            f'{len(model.connectors)} connectors on each of '
            f'{self.world_size} processes; the teacher is not wrapped'
            + (f'; {len(model.ddp_unreached)} parameters no loss reaches '
               'get a zero gradient' if model.ddp_unreached else ''))

    def train(self) -> nn.Module:
        model = self.model
        if isinstance(model, DistillModel) and not model.is_setup:
            self._train_loop = self.build_train_loop(self._train_loop)
            self.logger.info(
                'mmkd: probing shapes (self-distillation, no teacher)'
                if model.self_distill else
                'mmkd: building the teacher and probing shapes')
            try:
                model.setup(self._probe_batch())
            except DistillLossError as e:
                e.args = (f'{e} This happened in the set-up probe, before '
                          'any training: nothing was saved.', )
                raise
            self.logger.info(self._describe_distill(model))
        if (isinstance(model, DistillModel) and self.distributed
                and model.ddp is None):
            self._wrap_distill_ddp(model)
        try:
            return super().train()
        except DistillLossError as e:
            e.args = (f'{e} {self._save_last_good()}', )
            barrier()  # every rank waits for rank 0's checkpoint
            self.logger.error(str(e))
            raise

    def _save_last_good(self) -> str:
        """Save the state from before the failed iteration as
        ``last_good_iter_<n>.pth`` unless it is not finite itself (a
        diverged update); say what was done."""
        bad, total = self._nonfinite_state()
        if bad:
            latest = find_latest_checkpoint(self.work_dir)
            latest = (f'the newest regular checkpoint is {latest}' if latest
                      else 'there is no regular checkpoint in the work dir')
            return (f'The weights were already not finite ({len(bad)} of '
                    f'{total} tensors, e.g. {bad[:3]}): an earlier update '
                    'diverged (lower the learning rate or clip gradients). '
                    f'Nothing was saved; {latest}.')
        filename = osp.join(self.work_dir, f'last_good_iter_{self.iter}.pth')
        self.save_checkpoint(self.work_dir, osp.basename(filename))
        return (f'The state from before iteration {self.iter + 1} '
                '(parameters, buffers, optimizer, connectors) was saved as '
                f'{filename}.')

    def _nonfinite_state(self) -> Tuple[List[str], int]:
        """Names of the non-finite floating tensors of the student, the
        connectors and losses and the optimizer state, and their count."""
        model = self.model
        tensors = {f'student.{k}': v for k, v in model.state_dict().items()}
        tensors.update({f'distill.{k}': v for k, v in
                        model.distill_modules.state_dict().items()})
        wrappers = getattr(self.optim_wrapper, 'optim_wrappers',
                           dict(optimizer=self.optim_wrapper))
        for name, wrapper in wrappers.items():
            for i, state in enumerate(wrapper.optimizer.state.values()):
                tensors.update({f'{name}.state.{i}.{k}': v
                                for k, v in state.items()
                                if isinstance(v, torch.Tensor)})
        bad = [k for k, v in tensors.items()
               if v.is_floating_point() and not torch.isfinite(v).all()]
        return bad, len(tensors)

    def _probe_batch(self):
        """The first training samples, collated; read from the dataset (not
        the sampler, which may be a shared infinite generator) without
        changing any RNG state."""
        batches = self._probe_batches(
            self.train_loop.dataloader.batch_size or 2)
        try:
            return next(batches)
        finally:
            batches.close()  # puts the RNG states back

    def _probe_batches(self, samples: int) -> Iterator[Any]:
        """The first ``samples`` training samples (at most the dataset's),
        collated in batches of the loader's size and read one batch at a
        time; every RNG state is as before once the generator is done or
        closed."""
        loader = self.train_loop.dataloader
        size = loader.batch_size or 2
        total = min(samples, len(loader.dataset))
        states = (random.getstate(), np.random.get_state(),
                  torch.get_rng_state())
        try:
            for start in range(0, total, size):
                yield loader.collate_fn([
                    loader.dataset[i]
                    for i in range(start, min(start + size, total))])
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])

    @staticmethod
    def _describe_distill(model: DistillModel) -> str:
        lines = ['mmkd distillation:']
        for name in model.loss_cfgs:
            connector = model.connectors[name] if name in model.connectors \
                else None
            lines.append(
                f'  distill.loss_{name}: {type(model.distill_losses[name]).__name__}'  # noqa: E501
                f' student {model.student_specs[name]} -> '
                f'{"its own " if model.self_distill else "teacher "}'
                f'{model.teacher_specs[name]}'
                f'{f", connector {type(connector).__name__}" if connector else ""}')  # noqa: E501
        return '\n'.join(lines)

    def _init_model_weights(self) -> None:
        super()._init_model_weights()
        if isinstance(self.model, DistillModel):
            self.model.load_student_init()

    def build_optim_wrapper(self, optim_wrapper) -> OptimWrapper:
        wrapper = super().build_optim_wrapper(optim_wrapper)
        model = self.model
        if not isinstance(model, DistillModel):
            return wrapper
        params = [p for p in model.distill_modules.parameters()
                  if p.requires_grad]
        if not params:
            return wrapper
        if isinstance(wrapper, OptimWrapperDict):
            raise TypeError('mmkd: distillation with several optimizers '
                            '(OptimWrapperDict) is not supported.')
        present = {id(p) for group in wrapper.optimizer.param_groups
                   for p in group['params']}
        if not any(id(p) in present for p in params):
            wrapper.optimizer.add_param_group(dict(params=params))
        return wrapper



# Same routing as the start-up hook gives, for environments without it.
route_distill_configs(sys.modules[Runner.__module__])

"""A Runner that wraps ``cfg.model`` for distillation when ``distill`` is in
the config, and builds the teacher only when training starts."""
import os.path as osp
import random
import sys
from typing import Dict, Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.device import get_device
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner

from mmkd.models.distill_model import DistillLossError, DistillModel, mmkd_cfg
from mmkd.registry import HOOKS, RUNNERS
from mmkd.utils.scope_hook import route_distill_configs
from .distill_checkpoint_hook import DistillCheckpointHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

# `distill` keys used by the runner, the rest go to DistillModel.
_RUNNER_KEYS = ('schedules', )


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
    - A NaN/Inf distillation loss stops training after saving the last good
      state as ``last_good_iter_<n>.pth`` in the work dir.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_hook(WeightsOnlyCheckpointHook())
        if isinstance(self.model, DistillModel):
            self.register_hook(DistillCheckpointHook())
            for hook in (self.cfg.get('distill') or {}).get('schedules', []):
                self.register_hook(HOOKS.build(mmkd_cfg(hook)))

    def build_model(self, model: Union[nn.Module, Dict]) -> nn.Module:
        distill = self.cfg.get('distill')
        if distill and isinstance(model, dict) and 'DistillModel' not in str(
                model.get('type')):
            model = dict(
                type='mmkd.DistillModel', student=model,
                **{k: v for k, v in distill.items() if k not in _RUNNER_KEYS})
        return super().build_model(model)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: nn.Module) -> nn.Module:
        if not isinstance(model, DistillModel):
            return super().wrap_model(model_wrapper_cfg, model)
        if self.distributed:
            raise RuntimeError(
                'mmkd 0.1 distills in a single process; distributed '
                '(DDP) distillation is not supported yet.')
        model.revert_sync_batchnorm()
        return model.to(get_device())

    def train(self) -> nn.Module:
        model = self.model
        if isinstance(model, DistillModel) and not model.is_setup:
            self._train_loop = self.build_train_loop(self._train_loop)
            self.logger.info('mmkd: building the teacher and probing shapes')
            model.setup(self._probe_batch())
            self.logger.info(self._describe_distill(model))
        try:
            return super().train()
        except DistillLossError as e:
            filename = f'last_good_iter_{self.iter}.pth'
            self.save_checkpoint(self.work_dir, filename)
            self.logger.error(f'{e} Saved {osp.join(self.work_dir, filename)}.')
            raise

    def _probe_batch(self):
        """The first training samples, collated; read from the dataset (not
        the sampler, which may be a shared infinite generator) without
        changing any RNG state."""
        loader = self.train_loop.dataloader
        size = min(loader.batch_size or 2, len(loader.dataset))
        states = (random.getstate(), np.random.get_state(),
                  torch.get_rng_state())
        try:
            return loader.collate_fn([loader.dataset[i] for i in range(size)])
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
                f' student {model.student_specs[name]} -> teacher '
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

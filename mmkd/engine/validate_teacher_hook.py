"""The teacher's metrics on the val set, beside the student's."""
import random
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from mmkd.models.distill_model import DistillModel
from mmkd.registry import HOOKS


@HOOKS.register_module()
class ValidateTeacherHook(Hook):
    """Evaluates the teacher once on the val set before training, with the
    runner's val data loader and evaluator, and logs its metrics as
    ``teacher/<metric>``; after every validation they are logged again
    beside the student's (``val/teacher/<metric>``), as MMRazor's
    ``SingleTeacherDistillValLoop`` showed them.

    :class:`~mmkd.engine.DistillRunner` registers it when
    ``distill.validate_teacher=True``. The teacher is frozen, so one
    evaluation holds for the whole run. Under DDP every rank evaluates its
    share of the val set and the evaluator gathers them, as in validation.
    The random states are put back afterwards: the run trains as it would
    without it.
    """
    # after RuntimeInfoHook (VERY_HIGH), which puts the student's metrics in
    # the message hub, and before LoggerHook (BELOW_NORMAL), which logs them
    priority = 'NORMAL'

    def __init__(self) -> None:
        self.metrics: Optional[Dict[str, float]] = None

    def before_train(self, runner) -> None:
        model = runner.model
        if not isinstance(model, DistillModel) or model.teacher is None:
            return
        if runner._val_loop is None:
            runner.logger.warning('mmkd: distill.validate_teacher=True but '
                                  'the config has no val_dataloader/'
                                  'val_evaluator: the teacher is not '
                                  'evaluated.')
            return
        loop = runner.val_loop
        teacher = model.teacher
        modes = [(m, m.training) for m in teacher.modules()]
        # iterating a data loader draws from torch's generator: put the
        # random states back so that training is the same with and without
        rng = (random.getstate(), np.random.get_state(),
               torch.get_rng_state())
        teacher.eval()
        try:
            with torch.no_grad():
                for batch in loop.dataloader:
                    loop.evaluator.process(
                        data_samples=teacher.val_step(batch),
                        data_batch=batch)
            metrics = loop.evaluator.evaluate(len(loop.dataloader.dataset))
        finally:
            for module, mode in modes:
                module.training = mode
            random.setstate(rng[0])
            np.random.set_state(rng[1])
            torch.set_rng_state(rng[2])
        self.metrics = {f'teacher/{k}': float(v) for k, v in metrics.items()
                        if isinstance(v, (int, float))}
        if not self.metrics:  # e.g. mmdet's CocoMetric without detections
            runner.logger.warning('mmkd: the teacher made no predictions on '
                                  'the val set (no metric); is it trained?')
            return
        runner.logger.info('mmkd: the teacher on the val set ('
                           f'{len(loop.dataloader.dataset)} samples): ' +
                           '  '.join(f'{k}: {v:.4f}'
                                     for k, v in self.metrics.items()))
        runner.visualizer.add_scalars(self.metrics, step=runner.iter)

    def after_val_epoch(self, runner, metrics=None) -> None:
        for key, value in (self.metrics or {}).items():
            runner.message_hub.update_scalar(f'val/{key}', value)

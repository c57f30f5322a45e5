"""Hooks that scale distillation losses over training (per epoch or iter)."""
from abc import ABCMeta, abstractmethod
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmkd.registry import HOOKS


class DistillWeightHook(Hook, metaclass=ABCMeta):
    """Base class: sets ``model.loss_factors[name] = factor(progress)`` for
    the listed losses (all when ``losses`` is None) before every training
    epoch (``by_epoch=True``) or iteration, and logs the factor as
    ``train/distill.w_<name>``. The factor depends only on the runner's
    epoch/iter, so a resumed run continues with the same weights.

    Args:
        losses (Sequence[str], optional): Names in ``distill.losses``.
        by_epoch (bool): Update per epoch (else per iteration).
    """
    priority = 'NORMAL'

    def __init__(self, losses: Optional[Sequence[str]] = None,
                 by_epoch: bool = True) -> None:
        self.losses = list(losses) if losses is not None else None
        self.by_epoch = by_epoch

    @abstractmethod
    def factor(self, step: int, max_steps: int) -> float:
        """The loss factor at ``step`` (epoch or iter) of ``max_steps``."""

    def _apply(self, runner, step: int, max_steps: int) -> None:
        model = runner.model
        factors = getattr(model, 'loss_factors', None)
        if factors is None:
            raise TypeError(
                f'{type(self).__name__} needs a distillation model (got '
                f'{type(model.module if is_model_wrapper(model) else model).__name__}'  # noqa: E501
                "); train with runner_type='mmkd.DistillRunner'.")
        names = self.losses if self.losses is not None else list(factors)
        unknown = [n for n in names if n not in factors]
        if unknown:
            raise KeyError(f'{type(self).__name__}: no distill loss named '
                           f'{unknown}; losses are {list(factors)}.')
        value = float(self.factor(step, max_steps))
        for name in names:
            factors[name] = value
            runner.message_hub.update_scalar(f'train/distill.w_{name}', value)

    def before_train_epoch(self, runner) -> None:
        if self.by_epoch:
            self._apply(runner, runner.epoch, runner.max_epochs)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if not self.by_epoch:
            self._apply(runner, runner.iter, runner.max_iters)


@HOOKS.register_module()
class ConstantWeight(DistillWeightHook):
    """A constant factor ``weight``."""

    def __init__(self, weight: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.weight = weight

    def factor(self, step: int, max_steps: int) -> float:
        return self.weight


@HOOKS.register_module()
class LinearDecayWeight(DistillWeightHook):
    """DWPose's decay: ``1 - step / max_steps`` (0-based epoch by default)."""

    def factor(self, step: int, max_steps: int) -> float:
        return 1.0 - step / max_steps


@HOOKS.register_module()
class LinearRampWeight(DistillWeightHook):
    """PS-KD's ramp: ``(step + 1) / max_steps`` (0-based epoch by default),
    from ``1 / max_steps`` in the first epoch to 1 in the last; never 0."""

    def factor(self, step: int, max_steps: int) -> float:
        return (step + 1) / max_steps


@HOOKS.register_module()
class StopDistillAtEpoch(DistillWeightHook):
    """Factor 1 before ``stop_epoch`` (0-based), 0 from then on: the teacher
    is no longer run once all its losses are stopped."""

    def __init__(self, stop_epoch: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stop_epoch = stop_epoch

    def factor(self, step: int, max_steps: int) -> float:
        return 1.0 if step < self.stop_epoch else 0.0

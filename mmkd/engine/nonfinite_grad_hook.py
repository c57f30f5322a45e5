"""Stop a run whose gradient norm stays non-finite.

With gradient clipping, an Inf gradient norm gives a clip factor of 0: the
update is zeroed, the losses stay finite and the run goes on without
learning. mmengine's ``OptimWrapper`` logs the norm it clips with as
``train/grad_norm`` (a Python float already, so reading it costs no sync).
Without clipping, a non-finite gradient reaches the weights and the next
distillation loss check stops the run instead.
"""
import math
from typing import Optional

from mmengine.hooks import Hook

from mmkd.registry import HOOKS


class NonFiniteGradError(FloatingPointError):
    """The gradient norm was NaN/Inf for several iterations in a row."""


@HOOKS.register_module()
class NonFiniteGradHook(Hook):
    """Stops training (or warns) after ``patience`` consecutive iterations
    whose logged gradient norm is NaN/Inf, naming the distillation losses
    by size.

    Under mixed precision a non-finite norm counts only once the loss
    scaler's scale is at 1 or below: above, skipping the step and lowering
    the scale is the scaler's normal way out of an fp16 overflow.
    :class:`DistillRunner` registers it from
    ``distill.nonfinite_grad_patience`` (default 3) and
    ``distill.on_nonfinite_grad`` (``'stop'``, the default, or ``'warn'``).

    Args:
        patience (int): Consecutive non-finite norms that trigger it.
        action (str): ``'stop'`` raises :class:`NonFiniteGradError`,
            ``'warn'`` logs a warning (again every ``patience`` iterations).
    """
    priority = 'LOW'  # after RuntimeInfoHook logged this iteration's losses

    def __init__(self, patience: int = 3, action: str = 'stop') -> None:
        if action not in ('stop', 'warn'):
            raise ValueError("distill.on_nonfinite_grad must be 'stop' or "
                             f"'warn', got {action!r}.")
        if patience < 1:
            raise ValueError('distill.nonfinite_grad_patience must be >= 1, '
                             f'got {patience}.')
        self.patience, self.action = patience, action
        self.streak = 0
        self._last_log: Optional[object] = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        norms = runner.message_hub.log_scalars.get('train/grad_norm')
        if norms is None or norms.data[0] is self._last_log:
            return  # no clipping, or no update this iteration (accumulation)
        self._last_log = norms.data[0]  # a new array at every update
        norm = float(norms.current())
        if math.isfinite(norm) or self._scaler_backs_off(runner):
            self.streak = 0
            return
        self.streak += 1
        if self.streak % self.patience:
            return
        message = (
            f'The gradient norm was {norm} for {self.streak} iterations in a '
            f'row (up to iteration {runner.iter + 1}): the updates are '
            f'clipped to nothing and the model stops learning. '
            f'{self._loss_sizes(runner)}')
        if self.action == 'stop':
            runner.logger.error(message)
            raise NonFiniteGradError(message)
        runner.logger.warning(message)

    @staticmethod
    def _scaler_backs_off(runner) -> bool:
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        return scaler is not None and scaler.get_scale() > 1

    @staticmethod
    def _loss_sizes(runner) -> str:
        """The distillation losses of the last iteration, largest first."""
        prefix = 'train/distill.loss_'
        losses = sorted(
            ((k[len('train/'):], float(v.current()))
             for k, v in runner.message_hub.log_scalars.items()
             if k.startswith(prefix)), key=lambda kv: -abs(kv[1]))
        if not losses:
            return 'No distillation loss was computed.'
        sizes = ', '.join(f'{k}={v:.3g}' for k, v in losses)
        return (f'Largest distillation loss: {losses[0][0]} (last values: '
                f'{sizes}); lower its loss_weight.')

"""Keeps the trainable distillation parts in checkpoints, apart from the
student's own ``state_dict`` (so that one loads into the plain student)."""
from mmengine.hooks import Hook

from mmkd.registry import HOOKS


@HOOKS.register_module()
class DistillCheckpointHook(Hook):
    """Saves connectors/loss parameters as ``checkpoint['distill_state']``
    and restores them on resume. Registered by :class:`DistillRunner`."""
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model
        if getattr(model, 'is_setup', False) and model.loss_cfgs:
            checkpoint['distill_state'] = model.distill_modules.state_dict()
            checkpoint['distill_factors'] = dict(model.loss_factors)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model
        state = checkpoint.get('distill_state')
        if (state is None or not getattr(model, 'loss_cfgs', None)
                or not model.is_setup):
            return
        model.distill_modules.load_state_dict(state, strict=True)
        model.loss_factors.update(checkpoint.get('distill_factors', {}))

from .distill_checkpoint_hook import DistillCheckpointHook
from .distill_runner import DistillRunner
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook
from .weight_schedules import (ConstantWeight, DistillWeightHook,
                               LinearDecayWeight, StopDistillAtEpoch)

__all__ = [
    'DistillRunner', 'DistillCheckpointHook', 'DistillWeightHook',
    'ConstantWeight', 'LinearDecayWeight', 'StopDistillAtEpoch',
    'WeightsOnlyCheckpointHook'
]

from .atomic_checkpoint import AtomicCheckpointHook, CheckpointWriteError
from .distill_checkpoint_hook import DistillCheckpointHook
from .distill_runner import DistillRunner
from .kd_doctor_hook import KDDoctorHook
from .nonfinite_grad_hook import NonFiniteGradError, NonFiniteGradHook
from .rng_state_hook import RNGStateHook
from .validate_teacher_hook import ValidateTeacherHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook
from .weight_schedules import (ConstantWeight, DistillWeightHook,
                               LinearDecayWeight, LinearRampWeight,
                               StopDistillAtEpoch)

__all__ = [
    'DistillRunner', 'DistillCheckpointHook', 'DistillWeightHook',
    'ConstantWeight', 'LinearDecayWeight', 'LinearRampWeight',
    'StopDistillAtEpoch',
    'WeightsOnlyCheckpointHook', 'RNGStateHook', 'NonFiniteGradHook',
    'NonFiniteGradError', 'KDDoctorHook', 'ValidateTeacherHook',
    'AtomicCheckpointHook', 'CheckpointWriteError'
]

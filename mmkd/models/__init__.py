from .connectors import (ConvConnector, LinearConnector, NormConnector,
                         ResizeConnector)
from . import dfine, losses
from .dfine import *  # noqa: F401,F403
from .distill_model import DistillLossError, DistillModel
from .losses import *  # noqa: F401,F403
from .recorder import ModuleRecorder, RecordSpec
from .teacher import build_teacher

__all__ = [
    'DistillModel', 'DistillLossError', 'ModuleRecorder', 'RecordSpec',
    'build_teacher', 'ConvConnector', 'LinearConnector', 'NormConnector',
    'ResizeConnector'
] + losses.__all__ + dfine.__all__

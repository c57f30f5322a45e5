from .connectors import (ConvConnector, LinearConnector, NormConnector,
                         ResizeConnector)
from . import dfine, losses, pointdistiller
from .dfine import *  # noqa: F401,F403
from .distill_model import DistillLossError, DistillModel
from .losses import *  # noqa: F401,F403
from .pointdistiller import PointDistillerLoss
from .recorder import ModuleRecorder, RecordSpec
from .teacher import build_teacher

__all__ = [
    'DistillModel', 'DistillLossError', 'ModuleRecorder', 'RecordSpec',
    'build_teacher', 'ConvConnector', 'LinearConnector', 'NormConnector',
    'ResizeConnector', 'PointDistillerLoss'
] + losses.__all__ + dfine.__all__

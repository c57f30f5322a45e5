from .connectors import (ConvConnector, LinearConnector, NormConnector,
                         ResizeConnector)
from . import dfine, losses, pointdistiller
from .backbones import WideResNet
from .byot import BYOTExit, BYOTLoss
from .dfine import *  # noqa: F401,F403
from .distill_model import DistillLossError, DistillModel
from .dsd import DSDEncoderLoss, DSDHead, DSDLoss
from .losses import *  # noqa: F401,F403
from .pointdistiller import PointDistillerLoss
from .pskd import PredictionMemory, PSKDLoss
from .recorder import ModuleRecorder, RecordSpec
from .teacher import build_teacher
from .uskd import USKDLoss

__all__ = [
    'DistillModel', 'DistillLossError', 'ModuleRecorder', 'RecordSpec',
    'build_teacher', 'ConvConnector', 'LinearConnector', 'NormConnector',
    'ResizeConnector', 'PointDistillerLoss', 'USKDLoss', 'PSKDLoss',
    'PredictionMemory', 'BYOTExit', 'BYOTLoss', 'DSDHead', 'DSDLoss',
    'DSDEncoderLoss', 'WideResNet'
] + losses.__all__ + dfine.__all__

from .prediction_memory import PredictionMemory
from .pskd_loss import PSKDLoss

__all__ = ['PSKDLoss', 'PredictionMemory']

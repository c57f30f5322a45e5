from .cwd_loss import ChannelWiseDivergence
from .fgd_loss import FGDLoss
from .kd_loss import KDLoss
from .mgd_loss import MGDLoss
from .mse_loss import MSELoss
from .pkd_loss import PKDLoss

__all__ = [
    'KDLoss', 'MSELoss', 'PKDLoss', 'ChannelWiseDivergence', 'MGDLoss',
    'FGDLoss'
]

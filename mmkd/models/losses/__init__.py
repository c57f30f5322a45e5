from .cwd_loss import ChannelWiseDivergence
from .dense_reg_kd_loss import DenseRegKDLoss
from .dwpose_feature_loss import DWPoseFeatureLoss
from .fgd_loss import FGDLoss
from .kd_loss import KDLoss
from .ld_loss import LDLoss
from .mgd_loss import MGDLoss
from .mse_loss import MSELoss
from .pkd_loss import PKDLoss
from .sigmoid_kl_loss import SigmoidKLLoss
from .simcc_logit_loss import SimCCLogitLoss

__all__ = [
    'KDLoss', 'MSELoss', 'PKDLoss', 'ChannelWiseDivergence', 'MGDLoss',
    'FGDLoss', 'LDLoss', 'DWPoseFeatureLoss', 'SimCCLogitLoss',
    'SigmoidKLLoss', 'DenseRegKDLoss'
]

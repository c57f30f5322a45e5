from .ab_loss import ABLoss
from .at_loss import ATLoss
from .cwd_loss import ChannelWiseDivergence
from .dense_reg_kd_loss import DenseRegKDLoss
from .dist_loss import DISTLoss
from .dkd_loss import DKDLoss
from .dwpose_feature_loss import DWPoseFeatureLoss
from .fbkd_loss import FBKDLoss
from .fgd_loss import FGDLoss
from .kd_loss import KDLoss
from .kl_divergence import KLDivergence
from .l1_loss import L1Loss
from .l2_loss import L2Loss
from .ld_loss import LDLoss
from .mgd_loss import MGDLoss
from .mse_loss import MSELoss
from .nkd_loss import NKDLoss
from .ofd_loss import OFDLoss
from .pkd_loss import PKDLoss
from .rkd_loss import AngleWiseRKD, DistanceWiseRKD
from .sigmoid_kl_loss import SigmoidKLLoss
from .simcc_logit_loss import SimCCLogitLoss
from .wsld_loss import WSLD

__all__ = [
    'KDLoss', 'MSELoss', 'PKDLoss', 'ChannelWiseDivergence', 'MGDLoss',
    'FGDLoss', 'LDLoss', 'DWPoseFeatureLoss', 'SimCCLogitLoss',
    'SigmoidKLLoss', 'DenseRegKDLoss', 'KLDivergence', 'DKDLoss', 'DISTLoss',
    'WSLD', 'ATLoss', 'DistanceWiseRKD', 'AngleWiseRKD', 'L1Loss', 'L2Loss',
    'OFDLoss', 'ABLoss', 'FBKDLoss', 'NKDLoss'
]

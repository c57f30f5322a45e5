"""DSD's between-decoder term: an auxiliary head's class map learns from
the deepest decoder's and from the ground truth."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from ..connectors import resize_like


def pixel_kl(student: Tensor, teacher: Tensor, tau: float) -> Tensor:
    """The official ``PixelWiseKLDiv`` times ``tau ** 2``: the KL of the
    temperature-softened class maps, summed over the classes (dim 1) and
    averaged over the batch and the positions."""
    log_p_s = F.log_softmax(student.float() / tau, dim=1)
    p_t = F.softmax(teacher.float() / tau, dim=1)
    kl = F.kl_div(log_p_s, p_t, reduction='none').sum(1).mean()
    return kl * tau**2


def dice_ce(logits: Tensor, gt: Tensor, ignore_index: int = 255,
            smooth: float = 1e-5) -> Tensor:
    """monai's ``DiceCELoss(include_background=True, to_onehot_y=True,
    softmax=True)`` (lambda_dice = lambda_ce = 1) that the official code
    puts on every decoder head, with ``ignore_index`` pixels left out:
    ``1 - (2 sum(p g) + s) / (sum(p) + sum(g) + s)`` per image and class,
    averaged, plus the mean cross-entropy.

    Args:
        logits (Tensor): (N, C, H, W) at the labels' size.
        gt (Tensor): (N, H, W) class indices.
    """
    valid = gt != ignore_index
    if not valid.any():
        return logits.sum() * 0.
    ce = F.cross_entropy(logits.float(), gt, ignore_index=ignore_index)
    mask = valid.unsqueeze(1).float()
    prob = logits.float().softmax(1) * mask
    onehot = F.one_hot(torch.where(valid, gt, 0), logits.shape[1])
    onehot = onehot.permute(0, 3, 1, 2).float() * mask
    intersection = (prob * onehot).sum((2, 3))
    denominator = prob.sum((2, 3)) + onehot.sum((2, 3))
    dice = 1 - (2 * intersection + smooth) / (denominator + smooth)
    return dice.mean() + ce


def gt_maps(data_samples: Sequence, device: torch.device) -> Tensor:
    """The (N, H, W) label maps of mmseg's data samples."""
    return torch.stack([s.gt_sem_seg.data.reshape(s.gt_sem_seg.data.shape[-2:])
                        for s in data_samples]).long().to(device)


@MODELS.register_module()
class DSDLoss(nn.Module):
    """Between-decoder self-distillation of DSD (Banerjee et al.).

    An auxiliary head (:class:`DSDHead`, the connector) maps a shallower
    decoder stage to class logits :math:`z_s`; the deepest decoder's class
    map :math:`z_t`, recorded on the same model and detached, teaches it,
    and the ground truth :math:`y` supervises it (deep supervision):

    .. math::
        L = \\alpha \\, \\tau^2 \\, \\frac{1}{NHW} \\sum_{n,h,w} \\sum_c
            p_t \\log \\frac{p_t}{p_s} + \\lambda \\, \\mathrm{DiceCE}(z_s, y),
        \\quad p = \\mathrm{softmax}(z / \\tau)

    Official code (``soumbane/DualSelfDistillation``): ``temperature = 3``,
    ``alpha_KL = 1.0`` for the decoder and the encoder terms alike
    (alpha = beta = 1), deep supervision ``DiceCELoss`` of weight 1 on
    every decoder head; its total is the main output's DiceCE, the heads'
    DiceCE and the KL terms (:class:`DSDEncoderLoss` for the encoders'),
    here one loss per head. The main output's and the teacher head's own
    losses are the segmentor config's (mmseg's UNet: CE, and CE x 0.4 on
    the auxiliary head). Where this differs from the code:

    - The target is detached (mmkd's self-distillation contract); the
      official ``KLDivLoss`` also sends the gradient into the teacher head.
    - The code's "deepest decoder" (``out_dec1``) is a GT-supervised head
      on the penultimate decoder stage (the input of the last up-block),
      one stage below the paper's figure, where the head sits on the last
      decoder beside the output. mmkd follows the code: on mmseg's UNet
      that head is the config's own ``auxiliary_head`` (FCNHead on
      ``in_index=-2``, trained by its CE), so the comparison is at its
      resolution, not after upsampling to the input's. Its students are
      the bottleneck and the decoder stages below it.

    Reference: `Volumetric medical image segmentation through dual
    self-distillation in U-shaped networks
    <https://arxiv.org/abs/2306.03271>`_.

    Args:
        tau (float): Temperature. Defaults to 3.0 (official).
        loss_weight (float): Weight :math:`\\alpha` of the KL term.
            Defaults to 1.0 (official).
        ds_weight (float): Weight :math:`\\lambda` of the deep supervision
            of the head's logits (resized to the labels, bilinear); 0: none.
            Defaults to 1.0 (official).
        ignore_index (int): Label left out of the deep supervision.
            Defaults to 255.
    """

    compares_distributions = True

    def __init__(self,
                 tau: float = 3.0,
                 loss_weight: float = 1.0,
                 ds_weight: float = 1.0,
                 ignore_index: int = 255) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'tau must be positive, got {tau}')
        self.tau = tau
        self.loss_weight = loss_weight
        self.ds_weight = ds_weight
        self.ignore_index = ignore_index

    def forward(self, student: Tensor, teacher: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): The head's logits, (N, C, H, W).
            teacher (Tensor): The deepest decoder's logits, same shape.
            data_samples (list[SegDataSample], optional): The batch's
                samples (their ``gt_sem_seg``), for the deep supervision.

        Returns:
            Tensor: The scalar loss.
        """
        if student.shape != teacher.shape or student.dim() != 4:
            raise ValueError('DSDLoss expects (N, C, H, W) class maps of '
                             f'equal shape, got student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)}')
        loss = self.loss_weight * pixel_kl(student, teacher, self.tau)
        if self.ds_weight:
            if data_samples is None:
                raise ValueError('DSDLoss with ds_weight needs the data '
                                 'samples (their gt_sem_seg).')
            gt = gt_maps(data_samples, student.device)
            logits = resize_like(student, tuple(gt.shape[-2:]))
            loss = loss + self.ds_weight * dice_ce(logits, gt,
                                                   self.ignore_index)
        return loss

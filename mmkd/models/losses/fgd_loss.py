"""FGD: focal and global distillation for detectors."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import constant_init, kaiming_init
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class FGDLoss(nn.Module):
    """Focal and global distillation for detector features.

    With the teacher's spatial attention
    :math:`A^S = HW \\, \\mathrm{softmax}(\\frac{1}{C}\\sum_c |F| / T)` and
    channel attention
    :math:`A^C = C \\, \\mathrm{softmax}(\\frac{1}{HW}\\sum_{h,w} |F| / T)`,
    the foreground mask :math:`M` (1 / box area inside the GT boxes, the max
    over overlapping boxes) and the background mask :math:`B` (1 outside the
    boxes, divided by their count per image):

    .. math::
        L_{fea} = \\frac{\\alpha}{N} \\sum M A^S_t A^C_t (F^t - F^s)^2
            + \\frac{\\beta}{N} \\sum B A^S_t A^C_t (F^t - F^s)^2

        L_{at} = \\frac{\\gamma}{N} \\big(\\sum |A^S_t - A^S_s|
            + \\sum |A^C_t - A^C_s|\\big)

        L_{glb} = \\frac{\\lambda}{N} \\sum \\big(F^t + R_t(F^t)
            - F^s - R_s(F^s)\\big)^2

    where :math:`R` is a GcBlock context module (one for the student, one for
    the teacher, both trained with the student) and :math:`F^s` is the
    student feature after the 1x1 align conv (when channels differ).

    Reference: `Focal and Global Knowledge Distillation for Detectors
    <https://arxiv.org/abs/2111.11837>`_ (CVPR 2022).

    Args:
        student_channels (int): Channels of the student feature.
        teacher_channels (int): Channels of the teacher feature.
        temp (float): Attention temperature T. Defaults to 0.5.
        alpha_fgd (float): Foreground weight. Defaults to 1e-3.
        beta_fgd (float): Background weight. Defaults to 5e-4.
        gamma_fgd (float): Attention-mask weight. Defaults to 5e-4.
        lambda_fgd (float): Global relation weight. Defaults to 5e-6.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 student_channels: int,
                 teacher_channels: int,
                 temp: float = 0.5,
                 alpha_fgd: float = 1e-3,
                 beta_fgd: float = 5e-4,
                 gamma_fgd: float = 5e-4,
                 lambda_fgd: float = 5e-6,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.temp = temp
        self.alpha_fgd = alpha_fgd
        self.beta_fgd = beta_fgd
        self.gamma_fgd = gamma_fgd
        self.lambda_fgd = lambda_fgd
        self.loss_weight = loss_weight
        self.align = nn.Conv2d(student_channels, teacher_channels, 1) \
            if student_channels != teacher_channels else None
        c = teacher_channels
        self.conv_mask_s = nn.Conv2d(c, 1, 1)
        self.conv_mask_t = nn.Conv2d(c, 1, 1)
        self.channel_add_conv_s = self._context_transform(c)
        self.channel_add_conv_t = self._context_transform(c)
        self.reset_parameters()

    @staticmethod
    def _context_transform(c: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(c, c // 2, 1), nn.LayerNorm([c // 2, 1, 1]),
            nn.ReLU(inplace=True), nn.Conv2d(c // 2, c, 1))

    def reset_parameters(self) -> None:
        """Initialise as the official GcBlock: last conv zero."""
        kaiming_init(self.conv_mask_s, mode='fan_in')
        kaiming_init(self.conv_mask_t, mode='fan_in')
        constant_init(self.channel_add_conv_s[-1], val=0)
        constant_init(self.channel_add_conv_t[-1], val=0)

    def attention(self, feat: Tensor) -> Tuple[Tensor, Tensor]:
        """Spatial (N, H, W) and channel (N, C) attention of a feature."""
        n, c, h, w = feat.shape
        value = feat.abs()
        spatial = h * w * F.softmax(
            value.mean(dim=1).reshape(n, -1) / self.temp, dim=1)
        channel = c * F.softmax(value.mean(dim=(2, 3)) / self.temp, dim=1)
        return spatial.reshape(n, h, w), channel

    def gt_masks(self, data_samples: Sequence, n: int, h: int, w: int,
                 device: torch.device) -> Tuple[Tensor, Tensor]:
        """Foreground and background masks (N, H, W) from the GT boxes."""
        if len(data_samples) != n:
            raise ValueError(f'FGDLoss got {len(data_samples)} data samples '
                             f'for a batch of {n} features')
        fg = torch.zeros(n, h, w, device=device)
        rows = torch.arange(h, device=device)
        cols = torch.arange(w, device=device)
        for i, sample in enumerate(data_samples):
            in_h, in_w = sample.metainfo['batch_input_shape'][:2]
            boxes = sample.gt_instances.bboxes
            boxes = getattr(boxes, 'tensor', boxes)  # mmdet HorizontalBoxes
            boxes = torch.as_tensor(boxes).to(device, torch.float32)
            boxes = boxes.reshape(-1, 4)
            if boxes.numel():
                x = (boxes[:, 0::2] * w / in_w).clamp(0, w)
                y = (boxes[:, 1::2] * h / in_h).clamp(0, h)
                wmin, wmax = x[:, 0].floor(), x[:, 1].ceil()
                hmin, hmax = y[:, 0].floor(), y[:, 1].ceil()
                # rows hmin..hmax and cols wmin..wmax inclusive, as official
                area = 1.0 / ((hmax + 1 - hmin) * (wmax + 1 - wmin))
                in_r = (rows >= hmin[:, None]) & (rows <= hmax[:, None])
                in_c = (cols >= wmin[:, None]) & (cols <= wmax[:, None])
                box_masks = (in_r[:, :, None] & in_c[:, None, :]) \
                    * area[:, None, None]
                fg[i] = box_masks.amax(dim=0)
        bg = (fg == 0).float()
        bg = bg / bg.sum(dim=(1, 2), keepdim=True).clamp(min=1)
        return fg, bg

    def spatial_pool(self, feat: Tensor, conv_mask: nn.Module) -> Tensor:
        """GcBlock context: attention-weighted sum over positions."""
        n, c = feat.shape[:2]
        weight = F.softmax(conv_mask(feat).reshape(n, -1), dim=1)  # (N, HW)
        context = torch.bmm(feat.reshape(n, c, -1), weight[:, :, None])
        return context.reshape(n, c, 1, 1)

    def forward(self,
                student: Tensor,
                teacher: Tensor,
                data_samples: Optional[List] = None,
                **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            student (Tensor): Student feature (N, C_s, H, W).
            teacher (Tensor): Teacher feature (N, C_t, H, W).
            data_samples (list): mmdet ``DetDataSample`` s, with
                ``gt_instances.bboxes`` (x1, y1, x2, y2; a Tensor or
                ``HorizontalBoxes``) in the network input frame and
                ``metainfo['batch_input_shape']`` (h, w), the frame the
                boxes are scaled from to the feature map.

        Returns:
            Tensor: Scalar loss multiplied by ``loss_weight``.
        """
        if data_samples is None:
            raise ValueError('FGDLoss needs the data_samples keyword (GT '
                             'boxes)')
        if (student.dim() != 4 or teacher.dim() != 4
                or student.shape[0] != teacher.shape[0]
                or student.shape[2:] != teacher.shape[2:]
                or student.shape[1] != self.student_channels
                or teacher.shape[1] != self.teacher_channels):
            raise ValueError(
                'FGDLoss expects student (N, {}, H, W) and teacher '
                '(N, {}, H, W), got student {} and teacher {}'.format(
                    self.student_channels, self.teacher_channels,
                    tuple(student.shape), tuple(teacher.shape)))
        with torch.autocast(student.device.type, enabled=False):
            s, t = student.float(), teacher.float()
            if self.align is not None:
                s = self.align(s)
            n, _, h, w = t.shape
            spatial_t, channel_t = self.attention(t)
            spatial_s, channel_s = self.attention(s)
            fg, bg = self.gt_masks(data_samples, n, h, w, t.device)

            sq_err = (s - t).pow(2) * spatial_t[:, None] \
                * channel_t[:, :, None, None]
            fg_loss = (sq_err * fg[:, None]).sum() / n
            bg_loss = (sq_err * bg[:, None]).sum() / n
            mask_loss = ((channel_s - channel_t).abs().sum() +
                         (spatial_s - spatial_t).abs().sum()) / n
            out_s = s + self.channel_add_conv_s(
                self.spatial_pool(s, self.conv_mask_s))
            out_t = t + self.channel_add_conv_t(
                self.spatial_pool(t, self.conv_mask_t))
            rela_loss = (out_s - out_t).pow(2).sum() / n

            loss = (
                self.alpha_fgd * fg_loss + self.beta_fgd * bg_loss +
                self.gamma_fgd * mask_loss + self.lambda_fgd * rela_loss)
        return self.loss_weight * loss

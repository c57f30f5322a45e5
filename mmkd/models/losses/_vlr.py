"""LD's valuable localization region (VLR): which priors, beyond the main
region, get localization distillation, and with what weight."""
from typing import Sequence, Tuple

import torch
from torch import Tensor

_EPS = 1e-6  # mmdet's bbox_overlaps


def iou_diou(boxes: Tensor, gts: Tensor) -> Tuple[Tensor, Tensor]:
    """Pairwise IoU and DIoU of ``(n, 4)`` and ``(m, 4)`` xyxy boxes.

    :math:`DIoU = IoU - \\rho^2 / c^2`, :math:`\\rho` the distance of the
    centres, :math:`c` the diagonal of the smallest enclosing box (both
    denominators clamped to 1e-6 as mmdet's ``bbox_overlaps``).

    Returns:
        tuple[Tensor, Tensor]: ``(n, m)`` IoU and DIoU.
    """
    b, g = boxes[:, None], gts[None]
    wh = (torch.min(b[..., 2:], g[..., 2:]) -
          torch.max(b[..., :2], g[..., :2])).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    area_g = (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1])
    iou = overlap / (area_b + area_g - overlap).clamp(min=_EPS)
    rho2 = ((b[..., :2] + b[..., 2:] - g[..., :2] - g[..., 2:])**2).sum(-1) / 4
    enclose = (torch.max(b[..., 2:], g[..., 2:]) -
               torch.min(b[..., :2], g[..., :2])).clamp(min=0)
    c2 = (enclose**2).sum(-1).clamp(min=_EPS)
    return iou, iou - rho2 / c2


def vlr_weights(priors: Tensor, num_level_priors: Sequence[int],
                gt_bboxes: Tensor, topk: int = 9,
                lower: float = 0.25) -> Tensor:
    """VLR weights of one image's priors (the LD authors' code, ATSS-based).

    For each ground-truth box :math:`g`, :math:`t_g` is ATSS's IoU threshold
    (mean + std of the IoU of the ``topk`` priors per level whose centres
    are closest to :math:`g`'s). A prior :math:`k` is in the VLR of
    :math:`g` if :math:`lower \\cdot t_g \\le DIoU(k, g) < t_g`; its weight
    is the largest :math:`IoU(k, g)` over those :math:`g`, 0 outside the
    VLR. Positives of the main region may be in the VLR too.

    Args:
        priors (Tensor): ``(n, 4)`` xyxy priors (anchors) of all levels.
        num_level_priors (Sequence[int]): how many of them each level has.
        gt_bboxes (Tensor): ``(m, 4)`` xyxy ground-truth boxes.
        topk (int): ATSS's ``topk``. Defaults to 9 (GFL).
        lower (float): the VLR's lower DIoU bound, a fraction of
            :math:`t_g`. Defaults to 0.25.

    Returns:
        Tensor: ``(n,)`` weights.
    """
    priors, gt_bboxes = priors.float(), gt_bboxes.float().to(priors.device)
    weights = priors.new_zeros(priors.shape[0])
    if gt_bboxes.numel() == 0 or priors.numel() == 0:
        return weights
    iou, diou = iou_diou(priors, gt_bboxes)
    centres = (priors[:, :2] + priors[:, 2:]) / 2
    gt_centres = (gt_bboxes[:, :2] + gt_bboxes[:, 2:]) / 2
    distances = (centres[:, None] - gt_centres[None]).pow(2).sum(-1).sqrt()
    candidates, start = [], 0
    for n in num_level_priors:
        _, idx = distances[start:start + n].topk(
            min(topk, n), dim=0, largest=False)
        candidates.append(idx + start)
        start += n
    candidates = torch.cat(candidates)  # (candidates, m)
    cand_iou = iou.gather(0, candidates)
    thr = cand_iou.mean(0) + cand_iou.std(0)
    in_vlr = (diou < thr) & (diou >= lower * thr)
    best = iou.masked_fill(~in_vlr, -1).max(1)[0]
    return torch.where(best >= 0, best, weights)

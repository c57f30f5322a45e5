"""Zipf's-law soft labels: the r-th ranked class of a sample gets 1 / r."""
import torch
from torch import Tensor


def zipf_labels(scores: Tensor) -> Tensor:
    """Unnormalised Zipf labels from ranking scores.

    Each row's classes are ranked by ``scores`` (the highest is rank 1) and
    class c gets :math:`1 / r_c`, as USKD's code does it (yzd-v/cls_KD
    ``uskd.py``: sort, then the inverse permutation by ``argsort``, then a
    gather from ``1 / arange(1, C + 1)``).

    Args:
        scores (Tensor): (N, C) ranking scores.

    Returns:
        Tensor: (N, C) labels :math:`1 / r`, no gradient.
    """
    n, c = scores.shape
    _, order = torch.sort(scores.detach(), descending=True, dim=-1)
    ranks = torch.argsort(order)  # the position of each class in `order`
    zipf = 1 / torch.arange(1, c + 1, device=scores.device,
                            dtype=scores.dtype)
    return torch.gather(zipf.repeat(n, 1), 1, ranks)

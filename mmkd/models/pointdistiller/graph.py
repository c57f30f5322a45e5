"""The local graph of PointDistiller: items, top-N selection, kNN in a
feature space and edge features ``[x_j, x_i]``."""
from typing import Tuple

import torch
from torch import Tensor


def to_items(feat: Tensor) -> Tensor:
    """Features as a batch of item sets (B, M, C).

    ``(M, C)`` (voxel/pillar features of a whole batch, pooled) gives
    ``B = 1``; ``(B, C, P)`` (point features) and ``(B, C, H, W)`` (dense
    maps, one item per cell) give M = P or H * W.
    """
    if feat.dim() == 2:
        return feat.unsqueeze(0)
    if feat.dim() in (3, 4):
        return feat.flatten(2).transpose(1, 2)
    raise ValueError('PointDistiller expects (M, C) voxel, (B, C, P) point or '
                     f'(B, C, H, W) dense features, got {tuple(feat.shape)}.')


def select_top(importance: Tensor, num: int) -> Tensor:
    """Indices (B, min(num, M)) of the most important items of each set.

    Args:
        importance (Tensor): (B, M) scores.
        num (int): N, clamped to the M items available.
    """
    num = min(num, importance.shape[-1])
    return importance.topk(num, dim=-1, sorted=True).indices


def gather_items(items: Tensor, index: Tensor) -> Tensor:
    """``items[b, index[b, ...]]``: (B, M, C) and (B, ...) -> (B, ..., C)."""
    batch = torch.arange(items.shape[0], device=items.device)
    batch = batch.view(-1, *([1] * (index.dim() - 1)))
    return items[batch, index]


def knn_indices(query: Tensor,
                points: Tensor,
                k: int,
                chunk_elements: int = 2**25) -> Tensor:
    """Indices of the k nearest ``points`` of each query (squared Euclidean
    distance, in fp32, a query among the points is its own neighbour).

    .. math::
        d_{ij} = \\lVert q_i \\rVert^2 - 2 q_i^\\top p_j
        + \\lVert p_j \\rVert^2

    The (N, M) distance matrix is built in row chunks of at most
    ``chunk_elements`` entries, so N = 6000 queries over 100k pillars need
    about 128 MiB at a time rather than 2.3 GB; chunking does not change
    the result. No gradient flows.

    Args:
        query (Tensor): (B, N, C) query features.
        points (Tensor): (B, M, C) candidate features.
        k (int): Neighbours per query, clamped to M.
        chunk_elements (int): Largest distance block computed at once.

    Returns:
        Tensor: (B, N, min(k, M)) indices into the M points, nearest first.
    """
    k = min(k, points.shape[1])
    rows = max(1, chunk_elements // max(1, points.shape[1] * points.shape[0]))
    out = []
    with torch.no_grad(), torch.autocast(query.device.type, enabled=False):
        points = points.float()
        p_sq = points.pow(2).sum(-1).unsqueeze(1)  # (B, 1, M)
        for start in range(0, query.shape[1], rows):
            q = query[:, start:start + rows].float()
            dist = q.pow(2).sum(-1, keepdim=True) + p_sq
            dist = dist.baddbmm_(q, points.transpose(1, 2), alpha=-2)
            out.append(
                dist.topk(k, dim=-1, largest=False, sorted=True).indices)
    return torch.cat(out, dim=1)


def edge_features(items: Tensor, centers: Tensor, neighbors: Tensor) -> Tensor:
    """Edge features ``[x_j, x_i]`` (neighbour, centre) of a kNN graph.

    Args:
        items (Tensor): (B, M, C) features.
        centers (Tensor): (B, N) indices of the centres i.
        neighbors (Tensor): (B, N, K) indices of their neighbours j.

    Returns:
        Tensor: (B, 2C, N, K), channels ``[x_j, x_i]``.
    """
    x_j = gather_items(items, neighbors)  # (B, N, K, C)
    x_i = gather_items(items, centers).unsqueeze(2).expand_as(x_j)
    return torch.cat([x_j, x_i], dim=-1).permute(0, 3, 1, 2)


def local_graph(teacher: Tensor, importance: Tensor, num: int,
                k: int, chunk_elements: int = 2**25) -> Tuple[Tensor, Tensor]:
    """The top-N centres by ``importance`` and their k nearest neighbours
    in the teacher's feature space.

    Args:
        teacher (Tensor): (B, M, C) teacher items.
        importance (Tensor): (B, M) scores.
        num (int): N (clamped to M).
        k (int): K (clamped to M).
        chunk_elements (int): See :func:`knn_indices`.

    Returns:
        tuple[Tensor, Tensor]: Centres (B, N) and neighbours (B, N, K).
    """
    centers = select_top(importance, num)
    teacher = teacher.detach()
    neighbors = knn_indices(gather_items(teacher, centers), teacher, k,
                            chunk_elements)
    return centers, neighbors

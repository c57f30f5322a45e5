"""GO-LSD's union set of matches pooled across decoder layers."""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

__all__ = [
    'union_set_matching', 'union_set_matching_batch',
    'union_set_matching_flat'
]


def _stable_sort(key: Tensor, perm: Tensor, descending: bool = False):
    order = torch.sort(key[perm], stable=True, descending=descending)[1]
    return perm[order]


def union_set_matching(
        matches: Sequence[Tuple[Tensor, Tensor]]) -> Tuple[Tensor, Tensor]:
    """Pool the (query, gt) matches of several layers of one image.

    Every query matched in at least one layer enters the union set and keeps
    the ground truth it was matched to most often; a tie in that count goes
    to the lower ground-truth index. The order of ``matches`` does not
    matter.

    This is the rule of the official ``DFINECriterion._get_go_indices``
    (Peterande/D-FINE, ``src/zoo/dfine/dfine_criterion.py``): it
    concatenates all layers' (query, gt) pairs, counts them with
    ``torch.unique(..., dim=0, return_counts=True)`` (which returns the
    pairs sorted by query, then gt), orders them with
    ``torch.argsort(counts, descending=True)`` and keeps each query's first
    pair. Equal counts stay in ``torch.unique``'s order, i.e. the lower gt
    index wins, where that argsort keeps ties in order: always for up to 16
    distinct pairs per image on the CPU (PyTorch's default sort is not
    stable beyond that, so the official tie-break there is unspecified).
    Here the lower gt index always wins.

    Reference: D-FINE (arXiv 2410.13842), Sec. 3.3 (GO-LSD).

    Args:
        matches (sequence[tuple[Tensor, Tensor]]): per layer, the matched
            query indices and their ground-truth indices (1-D long tensors of
            equal length).

    Returns:
        tuple[Tensor, Tensor]: query indices (sorted ascending; the official
        code lists them by decreasing count instead, which changes no loss)
        and their ground-truth indices.
    """
    qs = [q.reshape(-1).long() for q, _ in matches]
    gs = [g.reshape(-1).long() for _, g in matches]
    device = qs[0].device if qs else torch.device('cpu')
    if not qs or sum(q.numel() for q in qs) == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty.clone()
    q = torch.cat(qs)
    g = torch.cat(gs).to(q.device)
    num_gt = int(g.max()) + 1
    key = q * num_gt + g
    # sorted by key, i.e. by query, then gt (as torch.unique(dim=0) sorts
    # the official (query, gt) rows)
    uniq, counts = torch.unique(key, sorted=True, return_counts=True)
    uq, ug = uniq // num_gt, uniq % num_gt
    # order: query asc, then count desc, then gt asc (stable sorts keep the
    # gt-ascending order of equal counts)
    perm = torch.sort(counts, stable=True, descending=True)[1]
    perm = _stable_sort(uq, perm)
    uq, ug = uq[perm], ug[perm]
    keep = torch.ones_like(uq, dtype=torch.bool)
    keep[1:] = uq[1:] != uq[:-1]
    return uq[keep], ug[keep]


def union_set_matching_batch(
        per_layer: List[List[Tuple[Tensor, Tensor]]]
) -> List[Tuple[Tensor, Tensor]]:
    """:func:`union_set_matching` for a batch.

    Args:
        per_layer (list[list[tuple]]): ``per_layer[l][i]`` is layer ``l``'s
            (query indices, gt indices) for image ``i``.

    Returns:
        list[tuple[Tensor, Tensor]]: the union set of every image.
    """
    num_imgs = len(per_layer[0])
    return [
        union_set_matching([layer[i] for layer in per_layer])
        for i in range(num_imgs)
    ]


def union_set_matching_flat(img_inds: Tensor, query_inds: Tensor,
                            gt_inds: Tensor,
                            num_queries: int) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`union_set_matching` for a whole batch in one call.

    Args:
        img_inds (Tensor): image index of each pooled (query, gt) pair,
            pairs of all layers and images together, in any order.
        query_inds (Tensor): query indices, in ``[0, num_queries)``.
        gt_inds (Tensor): ground-truth indices (per image).
        num_queries (int): number of queries per image.

    Returns:
        tuple[Tensor, Tensor, Tensor]: image, query and gt indices of the
        union set, sorted by image, then query (the order of
        :func:`union_set_matching_batch`'s results concatenated).
    """
    ids = img_inds.long() * num_queries + query_inds.long().to(img_inds.device)
    uq, ug = union_set_matching([(ids, gt_inds)])
    return uq // num_queries, uq % num_queries, ug

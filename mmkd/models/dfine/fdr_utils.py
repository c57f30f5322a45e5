"""Fine-grained Distribution Refinement (FDR) arithmetic.

Everything here is plain tensor math shared by the FDR decoders, the FGL and
DDF losses and the tests:

- :func:`weighting_function` -- the non-uniform bin values :math:`W(n)`;
- :func:`distribution_integral` -- edge offsets
  :math:`d = \\sum_n \\mathrm{softmax}(\\text{logits})_n W(n)`;
- :func:`distance2bbox` / :func:`bbox2distance` -- edge offsets <-> boxes
  around the initial box :math:`b^0`;
- :func:`two_bin_targets` -- a continuous offset located on the non-uniform
  grid as a left bin index and the linear weights of the two neighbouring
  bins;
- :func:`segment_sum` -- per-layer sums of rows stacked over decoder layers.

All functions compute in fp32 whatever the input dtype, so AMP cannot
overflow them.

Reference: `D-FINE: Redefine Regression Task in DETRs as Fine-grained
Distribution Refinement <https://arxiv.org/abs/2410.13842>`_ (Sec. 3.1).
"""
from typing import Tuple

import torch
from torch import Tensor

__all__ = [
    'weighting_function', 'distribution_integral', 'distance2bbox',
    'bbox2distance', 'two_bin_targets', 'segment_sum'
]


def weighting_function(num_bins: int = 32,
                       up: float = 0.5,
                       reg_scale: float = 4.0,
                       device=None) -> Tensor:
    """The non-uniform weighting function :math:`W(n)` of FDR.

    With :math:`a` = ``up``, :math:`c` = ``reg_scale``, :math:`N` =
    ``num_bins`` (even, >= 4) and :math:`s = (ac + 1)^{2/(N-2)}`:

    .. math::
        W = \\big[-2ac,\\; 1 - s^{N/2-1}, \\dots, 1 - s^{1},\\; 0,\\;
        s^{1} - 1, \\dots, s^{N/2-1} - 1,\\; 2ac\\big]

    i.e. :math:`N + 1` values, symmetric around :math:`W(N/2) = 0`, fine near
    0 and coarse near the ends (:math:`W(1) = -ac`, :math:`W(N-1) = ac`). An
    offset of :math:`W` moves an edge by :math:`W \\cdot w / c` (see
    :func:`distance2bbox`), so the largest move is :math:`\\pm 2a` times the
    initial box size.

    Args:
        num_bins (int): :math:`N` (the distribution has ``N + 1`` bins).
        up (float): :math:`a`, the upper bound factor.
        reg_scale (float): :math:`c`, the curvature.
        device: device of the result.

    Returns:
        Tensor: fp32 tensor of shape ``(N + 1,)``.
    """
    if num_bins < 4 or num_bins % 2:
        raise ValueError(f'num_bins must be even and >= 4, got {num_bins}')
    a, c = abs(float(up)), abs(float(reg_scale))
    upper1, upper2 = a * c, 2 * a * c
    step = (upper1 + 1)**(2 / (num_bins - 2))
    half = num_bins // 2
    left = [-(step**k) + 1 for k in range(half - 1, 0, -1)]
    right = [step**k - 1 for k in range(1, half)]
    values = [-upper2] + left + [0.0] + right + [upper2]
    return torch.tensor(values, dtype=torch.float32, device=device)


def distribution_integral(logits: Tensor, project: Tensor) -> Tensor:
    """Expected value of each edge distribution on the grid ``project``.

    Args:
        logits (Tensor): ``(..., 4 * (N + 1))`` or ``(..., 4, N + 1)``.
        project (Tensor): the bin values :math:`W`, shape ``(N + 1,)``.

    Returns:
        Tensor: fp32 edge offsets of shape ``(..., 4)``.
    """
    n = project.numel()
    if logits.shape[-1] != n:
        logits = logits.reshape(*logits.shape[:-1], 4, n)
    prob = torch.softmax(logits.float(), dim=-1)
    # elementwise product + sum (not a matmul) so autocast keeps fp32
    return (prob * project.float()).sum(-1)


def distance2bbox(init_boxes: Tensor, distances: Tensor,
                  reg_scale: float) -> Tensor:
    """Refine initial boxes by edge offsets.

    .. math::
        x_1 = c_x - (\\tfrac{c}{2} + d_l) \\tfrac{w}{c},\\quad
        y_1 = c_y - (\\tfrac{c}{2} + d_t) \\tfrac{h}{c},\\quad
        x_2 = c_x + (\\tfrac{c}{2} + d_r) \\tfrac{w}{c},\\quad
        y_2 = c_y + (\\tfrac{c}{2} + d_b) \\tfrac{h}{c}

    so zero offsets give back the initial box.

    Args:
        init_boxes (Tensor): ``(..., 4)`` initial boxes :math:`b^0`
            (cx, cy, w, h), normalised.
        distances (Tensor): ``(..., 4)`` offsets (left, top, right, bottom)
            in units of :math:`W`.
        reg_scale (float): :math:`c`.

    Returns:
        Tensor: fp32 refined boxes (cx, cy, w, h).
    """
    c = abs(float(reg_scale))
    b = init_boxes.float()
    d = distances.float()
    cx, cy, w, h = b.unbind(-1)
    x1 = cx - (0.5 * c + d[..., 0]) * (w / c)
    y1 = cy - (0.5 * c + d[..., 1]) * (h / c)
    x2 = cx + (0.5 * c + d[..., 2]) * (w / c)
    y2 = cy + (0.5 * c + d[..., 3]) * (h / c)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)


def bbox2distance(init_boxes: Tensor, gt_boxes_xyxy: Tensor,
                  reg_scale: float) -> Tensor:
    """Inverse of :func:`distance2bbox`: the offsets that turn ``init_boxes``
    into ``gt_boxes_xyxy`` (continuous, not yet on the grid).

    Args:
        init_boxes (Tensor): ``(n, 4)`` initial boxes (cx, cy, w, h).
        gt_boxes_xyxy (Tensor): ``(n, 4)`` target boxes (x1, y1, x2, y2), in
            the same (normalised) frame.
        reg_scale (float): :math:`c`.

    Returns:
        Tensor: fp32 offsets ``(n, 4)`` (left, top, right, bottom).
    """
    c = abs(float(reg_scale))
    b = init_boxes.float()
    g = gt_boxes_xyxy.float()
    sx = b[..., 2] / c + 1e-16
    sy = b[..., 3] / c + 1e-16
    left = (b[..., 0] - g[..., 0]) / sx - 0.5 * c
    top = (b[..., 1] - g[..., 1]) / sy - 0.5 * c
    right = (g[..., 2] - b[..., 0]) / sx - 0.5 * c
    bottom = (g[..., 3] - b[..., 1]) / sy - 0.5 * c
    return torch.stack([left, top, right, bottom], -1)


def two_bin_targets(values: Tensor,
                    project: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Locate continuous offsets on the non-uniform grid ``project``.

    For :math:`W(i) \\le v < W(i+1)` the target is bin :math:`i` with weight
    :math:`\\omega_l = (W(i+1) - v) / (W(i+1) - W(i))` and bin :math:`i+1` with
    :math:`\\omega_r = 1 - \\omega_l`. Values below :math:`W(0)` go entirely
    to bin 0, values at or above :math:`W(N)` entirely to bin :math:`N`.

    Args:
        values (Tensor): offsets of any shape.
        project (Tensor): ``(N + 1,)`` increasing bin values.

    Returns:
        tuple[Tensor]: ``left`` (long, in ``[0, N - 1]``), ``weight_left``
        and ``weight_right`` (fp32), all of the shape of ``values``; the
        right bin is ``left + 1``.
    """
    proj = project.float()
    num_bins = proj.numel() - 1
    v = values.float()
    # index of the last bin value <= v (-1 below the grid)
    idx = torch.searchsorted(proj, v.contiguous(), right=True) - 1
    below = idx < 0
    above = idx >= num_bins
    left = idx.clamp(0, num_bins - 1)
    lv, rv = proj[left], proj[left + 1]
    w_right = ((v - lv) / (rv - lv)).clamp(0, 1)
    w_right = torch.where(below, torch.zeros_like(w_right), w_right)
    w_right = torch.where(above, torch.ones_like(w_right), w_right)
    return left, 1.0 - w_right, w_right


def segment_sum(values: Tensor, segments: Tensor, num_segments: int) -> Tensor:
    """Sum the rows of ``values`` per segment (e.g. per decoder layer).

    A masked sum rather than ``index_add_`` / ``scatter_add_``, which are
    not deterministic on CUDA.

    Args:
        values (Tensor): ``(n, ...)``; each row is summed over its other
            dimensions first.
        segments (Tensor): long ``(n,)`` segment of each row, in
            ``[0, num_segments)``.
        num_segments (int): number of segments.

    Returns:
        Tensor: ``(num_segments,)`` sums (0 for an empty segment).
    """
    rows = values.reshape(values.shape[0], -1).sum(1)
    ids = torch.arange(num_segments, device=segments.device)
    mask = segments[None, :] == ids[:, None]
    return torch.where(mask, rows[None, :], rows.new_zeros(())).sum(1)

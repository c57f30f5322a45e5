"""Statistics of the tensors the KD doctor records: mean, std, share of
dead channels and, for feature maps, the peak position."""
import math
from dataclasses import dataclass
from typing import Any, Optional

from torch import Tensor

# A channel is dead when its std is below DEAD_RATIO x its abs-max (or its
# abs-max is 0): it carries the same value everywhere.
DEAD_RATIO = 1e-4


@dataclass
class TensorStats:
    """Statistics of one recorded tensor (channels along dim 1).

    Attributes:
        shape: The tensor's shape.
        mean: Mean over all elements.
        std: Standard deviation over all elements.
        dead: Share of channels whose std is ~0 relative to their abs-max.
        peak: For a feature map (N, C, H, W): the largest mean absolute
            value over channels at one position, divided by the median
            position's (nan for other tensors).
        peak_at: Where that position is: (sample, row, column).
        peak_image: The median position of that sample divided by the
            batch's median position: large when the sample's whole map is
            out of scale, not one position of it.
        peak_where: What the sample index of ``peak_at`` counts.
    """
    shape: tuple
    mean: float
    std: float
    dead: float
    peak: float = float('nan')
    peak_at: tuple = ()
    peak_image: float = float('nan')
    peak_where: str = 'of its batch'

    def __str__(self) -> str:
        return f'{self.mean:+.3g}/{self.std:.3g}/{self.dead:.0%}'


def first_tensor(x: Any) -> Optional[Tensor]:
    """The tensor a loss compares: ``x`` itself, or the first tensor of a
    tuple/list record (a spec group's feature, a module's first output)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple)):
        for v in x:
            t = first_tensor(v)
            if t is not None:
                return t
    return None


def tensor_stats(x: Any) -> Optional[TensorStats]:
    """Mean, std and share of dead channels (dim 1) of the first tensor of
    ``x``; None when ``x`` holds no floating tensor."""
    t = first_tensor(x)
    if t is None or not t.is_floating_point() or t.numel() == 0:
        return None
    t = t.detach().float()
    if t.dim() >= 2:
        per_channel = t.transpose(0, 1).reshape(t.shape[1], -1)
    else:
        per_channel = t.reshape(1, -1)
    std_c = per_channel.std(1, unbiased=False)
    max_c = per_channel.abs().amax(1)
    dead = (max_c == 0) | (std_c <= DEAD_RATIO * max_c)
    peak, peak_at, peak_image = float('nan'), (), float('nan')
    if t.dim() == 4 and t.shape[2] * t.shape[3] > 1:
        magnitude = t.abs().mean(1)  # (N, H, W)

        def occupied_median(m: Tensor) -> float:
            # a scattered pillar map is mostly 0
            m = m[m > 0]
            return float(m.median()) if m.numel() else 0.0

        median = occupied_median(magnitude)
        top = int(magnitude.argmax())
        peak = safe_ratio(float(magnitude.flatten()[top]), median)
        n_i, rest = divmod(top, t.shape[2] * t.shape[3])
        peak_at = (n_i, *divmod(rest, t.shape[3]))
        peak_image = safe_ratio(occupied_median(magnitude[n_i]), median)
    return TensorStats(tuple(t.shape), float(t.mean()),
                       float(t.std(unbiased=False)),
                       float(dead.float().mean()), peak, peak_at, peak_image)


def requires_grad(x: Any) -> bool:
    """Whether a tensor of ``x`` (a tensor or a tuple/list record)
    requires grad: a gradient path to the parameters that made it."""
    if isinstance(x, Tensor):
        return x.requires_grad
    if isinstance(x, (list, tuple)):
        return any(requires_grad(v) for v in x)
    return False


def safe_ratio(a: float, b: float) -> float:
    """``a / b``; inf when only ``b`` is 0, nan when both are."""
    if b == 0 or not math.isfinite(b):
        return float('inf') if b == 0 and a > 0 else float('nan')
    return a / b

"""The teacher check: every training sample whose recorded teacher map is
out of scale, named. A teacher that blows up on a few images hands its
student losses dominated by those images (FGD, CWD, MGD, MSE), so the
results zoo refuses to train students from it (``tools/zoo.py``)."""
import statistics
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

from torch import Tensor

from mmkd.models.distill_model import DistillModel
from .doctor_warnings import IMAGE_RATIO, PEAK_RATIO
from .scan import teacher_records


@dataclass
class OutOfScale:
    """One sample whose teacher map at one loss is out of scale.

    Attributes:
        loss: The distillation loss whose teacher map it is.
        spec: The teacher recorder spec of that map.
        sample: The sample's index among the scanned samples.
        img_path: Its image file (None when its data sample has none).
        image_ratio: The sample's median position (mean |value| over
            channels) over the median position of all scanned samples.
        peak_ratio: The sample's highest position over that same median.
        peak_at: Where that position is: (row, column).
    """
    loss: str
    spec: str
    sample: int
    img_path: Optional[str]
    image_ratio: float
    peak_ratio: float
    peak_at: tuple

    def __str__(self) -> str:
        name = f' ({self.img_path})' if self.img_path else ''
        return (f'{self.loss} ({self.spec}): sample {self.sample}{name} '
                f'median position {self.image_ratio:.1f}x, highest '
                f'{self.peak_ratio:.0f}x (row {self.peak_at[0]}, column '
                f'{self.peak_at[1]}) the median position of all samples')


def _occupied(m: Tensor) -> Tensor:
    return m[m > 0]  # a scattered pillar map is mostly 0


def check_teacher(model: DistillModel, data_batches: Iterable[Any],
                  image_ratio: float = IMAGE_RATIO,
                  peak_ratio: float = PEAK_RATIO) -> List[OutOfScale]:
    """Run the teacher alone on every raw batch of ``data_batches`` and
    return the samples out of scale at a loss's recorded teacher map
    (N, C, H, W; other tensors are not checked): the sample's median
    position above ``image_ratio`` x, or one position above ``peak_ratio``
    x, the median position over all scanned samples (positions by mean
    |value| over channels). The KD doctor's warnings use the same two
    thresholds; unlike its scan (:func:`~mmkd.analysis.scan_teacher`),
    which compares within a batch and keeps the worst batch, this names
    every sample. Nothing of the model changes.

    Args:
        model: A set-up :class:`~mmkd.models.DistillModel` with a teacher.
        data_batches: Raw batches, as the training loader gives them.
        image_ratio: Threshold for a whole map out of scale.
        peak_ratio: Threshold for one position out of scale.

    Returns:
        One :class:`OutOfScale` per (loss, sample) found, in scan order.
    """
    maps: Dict[str, List[Tensor]] = {}  # loss -> (H, W) magnitudes
    paths: List[Optional[str]] = []
    for samples, records in teacher_records(model, data_batches):
        paths += [getattr(s, 'img_path', None) for s in samples]
        for name, t in records.items():
            if (t is not None and t.dim() == 4 and t.is_floating_point()
                    and t.shape[2] * t.shape[3] > 1):
                maps.setdefault(name, []).extend(
                    t.detach().float().abs().mean(1))
    found = []
    for name, magnitudes in maps.items():
        median = statistics.median(
            float(_occupied(m).median()) for m in magnitudes
            if _occupied(m).numel()) if magnitudes else 0.0
        if median <= 0:
            continue
        for i, m in enumerate(magnitudes):
            own = _occupied(m)
            own_median = float(own.median()) if own.numel() else 0.0
            top = int(m.argmax())
            peak = float(m.flatten()[top])
            if own_median / median > image_ratio or peak / median > \
                    peak_ratio:
                found.append(OutOfScale(
                    name, str(model.teacher_specs[name]), i,
                    paths[i] if i < len(paths) else None,
                    own_median / median, peak / median,
                    divmod(top, m.shape[1])))
    return found

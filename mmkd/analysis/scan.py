"""The KD doctor's teacher scan: the teacher alone on more training
samples than one batch, for feature maps that blow up on a few images."""
import copy
import math
from dataclasses import replace
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple

from torch import Tensor

from mmkd.models.distill_model import DistillModel
from .diagnosis import Diagnosis
from .saved_state import SavedState
from .stats import TensorStats, first_tensor, tensor_stats


def teacher_records(model: DistillModel, data_batches: Iterable[Any]
                    ) -> Iterator[Tuple[Any, Dict[str, Optional[Tensor]]]]:
    """Run the teacher alone on each raw batch of ``data_batches`` (as
    training feeds it) and yield, per batch, its data samples and the first
    tensor of each active loss's teacher record. Buffers, module modes and
    RNG states are put back when the generator ends or is closed."""
    if not model.is_setup or model.teacher is None:
        raise RuntimeError('The teacher scan needs a set-up DistillModel.')
    active = model.active_losses()
    saved = SavedState(model)
    try:
        for batch in data_batches:
            data = model._teacher_data(batch) or copy.deepcopy(
                model.module.data_preprocessor)(batch, True)
            model._run_teacher(data['inputs'], data['data_samples'])
            records = {
                name: first_tensor(
                    model.teacher_recorder.get(model.teacher_specs[name]))
                for name in active}
            model.teacher_recorder.records = {}
            yield data['data_samples'], records
    finally:
        model.teacher_recorder.stop()
        model.teacher_recorder.records = {}
        saved.restore()


def scan_teacher(model: DistillModel, data_batches: Iterable[Any]
                 ) -> Dict[str, TensorStats]:
    """Run the teacher alone on each raw batch of ``data_batches`` (as
    training feeds it) and keep, per active loss, the statistics of the
    batch whose recorded teacher map has the highest peak, its sample index
    counted over all scanned samples. A cheap look at more images than one
    batch: a teacher whose features blow up on a few images shows."""
    best: Dict[str, TensorStats] = {}
    seen = 0
    for _, records in teacher_records(model, data_batches):
        size = 0
        for name, t in records.items():
            stats = tensor_stats(t)
            if t is None or stats is None:
                continue
            size = t.shape[0]
            if not math.isnan(stats.peak) and (
                    name not in best or stats.peak > best[name].peak):
                best[name] = replace(
                    stats, peak_at=(seen + stats.peak_at[0],
                                    *stats.peak_at[1:]))
        seen += size
    for name, stats in best.items():
        best[name] = replace(
            stats, peak_where=f'of the first {seen} training samples')
    return best


def with_scan(diagnosis: Diagnosis,
              scanned: Dict[str, TensorStats]) -> Diagnosis:
    """``diagnosis`` with each loss's teacher peak replaced by the scan's
    (:func:`scan_teacher`) where the scan found a higher one."""
    losses = []
    for d in diagnosis.losses:
        top = scanned.get(d.name)
        if d.teacher is not None and top is not None and not (
                top.peak <= d.teacher.peak):
            d = replace(d, teacher=replace(
                d.teacher, peak=top.peak, peak_at=top.peak_at,
                peak_image=top.peak_image, peak_where=top.peak_where))
        losses.append(d)
    return replace(diagnosis, losses=losses)

"""The teacher's and the student's metric on a slice of the val set."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn


def limit_val_images(cfg, images: int) -> None:
    """Make ``cfg``'s val data loader read only its first ``images``
    samples (mmengine's ``BaseDataset(indices=n)``)."""
    loader = cfg.get('val_dataloader')
    if loader and isinstance(loader.get('dataset'), dict):
        loader['dataset']['indices'] = int(images)


def _evaluate(model: nn.Module, dataloader, evaluator) -> Dict[str, float]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            for batch in dataloader:
                evaluator.process(data_samples=model.val_step(batch),
                                  data_batch=batch)
        return evaluator.evaluate(len(dataloader.dataset))
    finally:
        for module, mode in modes:
            module.training = mode


def evaluate_slice(runner, key: Optional[str] = None) -> Optional[dict]:
    """Evaluate the student and the teacher of ``runner``'s set-up
    :class:`~mmkd.models.distill_model.DistillModel` with the runner's val
    data loader and evaluator (limit it first with
    :func:`limit_val_images`).

    Args:
        runner: A DistillRunner whose model is set up.
        key: The metric to compare (default: the first the evaluator
            returns, e.g. ``coco/bbox_mAP``). A model the evaluator returns
            nothing for (no predictions at all) scores 0.

    Returns:
        ``dict(key=..., student=..., teacher=..., images=n)``, or None when
        the config has no val data loader or evaluator.
    """
    if runner._val_loop is None:
        return None
    loop = runner.val_loop
    model = runner.model
    student = _evaluate(model.module, loop.dataloader, loop.evaluator)
    teacher = _evaluate(model.teacher, loop.dataloader, loop.evaluator)
    scalar: List[str] = [k for m in (student, teacher) for k, v in m.items()
                         if isinstance(v, (int, float))]
    if key is None:
        # a model with no detections at all may give no metric: 0
        key = scalar[0] if scalar else 'metric (no predictions)'
    return dict(key=key, student=float(student.get(key, 0.0)),
                teacher=float(teacher.get(key, 0.0)),
                images=len(loop.dataloader.dataset))

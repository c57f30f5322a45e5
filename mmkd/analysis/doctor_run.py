"""Run the KD doctor over a few training iterations of a distillation
config, or of a self-distillation model's config (D-FINE), the logic of
``tools/analysis/kd_doctor.py``."""
import copy
import os
import os.path as osp
import shutil
import tempfile
from dataclasses import dataclass
from typing import List, Optional

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS

from mmkd.models.distill_model import DistillModel
from mmkd.registry import RUNNERS as MMKD_RUNNERS
from .diagnosis import Diagnosis, average
from .doctor_warnings import find_warnings
from .probes import diagnose, diagnose_self
from .slice_eval import evaluate_slice, limit_val_images


class _Enough(Exception):
    """Raised by :class:`DoctorHook` once it has seen enough iterations."""


class DoctorHook(Hook):
    """Diagnoses the batch of each training iteration before the model
    trains on it; stops the run after ``iters`` iterations.

    Args:
        iters: Iterations to run.
        eval_images: Evaluate teacher and student on the val loader (limited
            to these many images) before training; 0: not.
    """
    priority = 'LOWEST'  # after the weight schedules set the loss factors

    def __init__(self, iters: int, eval_images: int = 0) -> None:
        self.iters, self.eval_images = iters, eval_images
        self.history: List[Diagnosis] = []
        self.metrics: Optional[dict] = None

    def before_train(self, runner) -> None:
        if self.eval_images:
            self.metrics = evaluate_slice(runner)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        # the modes as the loop set them: a teacher something switched to
        # train mode shows
        model = runner.model
        doctor = diagnose if isinstance(model, DistillModel) else \
            diagnose_self
        self.history.append(doctor(model, data_batch, train_mode=False))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if len(self.history) >= self.iters:
            raise _Enough


@dataclass
class DoctorResult:
    """What :func:`run_doctor` found.

    Attributes:
        diagnosis: Averaged over the iterations, with the metrics.
        history: One diagnosis per iteration.
        warnings: :func:`find_warnings` of ``diagnosis``.
        figure: The figure's path (None without ``out_dir``).
    """
    diagnosis: Diagnosis
    history: List[Diagnosis]
    warnings: List[str]
    figure: Optional[str]

    def report(self) -> str:
        lines = [self.diagnosis.report()]
        if self.figure:
            lines.append(f'figure: {self.figure}')
        return '\n'.join(lines)


def doctor_config(cfg: Config, work_dir: str,
                  checkpoint: Optional[str] = None,
                  eval_images: int = 0) -> Config:
    """A copy of ``cfg`` for the doctor: work dir ``work_dir``, the student
    loaded from ``checkpoint``, no checkpoint saved, no validation during
    training, only local visualizer backends (no TensorBoard/W&B run), no
    start-of-run diagnosis (the doctor does its own)."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.load_from, cfg.resume = checkpoint, False
    if cfg.get('distill'):
        cfg.distill['diagnose'] = False
    if cfg.get('default_hooks') and 'checkpoint' in cfg.default_hooks:
        cfg.default_hooks['checkpoint'] = None
    if cfg.get('train_cfg'):
        cfg.train_cfg['val_interval'] = 10**9
    cfg.launcher = 'none'
    if isinstance(cfg.get('visualizer'), dict):  # no remote logging
        cfg.visualizer['vis_backends'] = [dict(type='LocalVisBackend')]
    if eval_images:
        limit_val_images(cfg, eval_images)
    return cfg


def run_doctor(cfg: Config, checkpoint: Optional[str] = None,
               iters: int = 5, out_dir: Optional[str] = None,
               eval_images: int = 0) -> DoctorResult:
    """Train ``iters`` iterations of the distillation config ``cfg``
    (optimizer steps included, as in the real run) in a temporary work dir
    that is deleted afterwards, diagnosing each batch before the model
    trains on it.

    Args:
        cfg: The distillation config.
        checkpoint: Student weights to start from (``load_from``).
        iters: Iterations to run.
        out_dir: Where the figure ``kd_doctor.png`` goes (None: no figure).
        eval_images: Evaluate teacher and student on the first these many
            val images first (0: skip; it flags an untrained teacher or
            one worse than the student). Not for self-distillation.

    Returns:
        A :class:`DoctorResult`.
    """
    from mmengine.runner import Runner
    distill = bool(cfg.get('distill'))
    if not distill and eval_images:
        raise ValueError('--eval-images compares a teacher with its student: '
                         'a self-distillation config has no teacher.')
    work_dir = tempfile.mkdtemp(prefix='kd_doctor_')
    try:
        run_cfg = doctor_config(cfg, work_dir, checkpoint, eval_images)
        runner = RUNNERS.build(run_cfg) if 'runner_type' in run_cfg else \
            (MMKD_RUNNERS.get('DistillRunner') if distill else Runner
             ).from_cfg(run_cfg)
        model = runner.model
        if distill and not isinstance(model, DistillModel):
            raise ValueError(
                'The KD doctor needs the distillation runner: set '
                "runner_type = 'mmkd.DistillRunner' (the mmkd recipes do).")
        if not distill and not getattr(model, 'self_distill_losses', None):
            raise ValueError(
                'The KD doctor needs a distillation config (one with a '
                '`distill` dict, e.g. inheriting an mmkd::distill/*.py '
                f'recipe) or a self-distilling model; {type(model).__name__}'
                ' is neither (no `self_distill_losses`).')
        hook = DoctorHook(iters, eval_images)
        runner.register_hook(hook)
        try:
            runner.train()
        except _Enough:
            pass
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if not hook.history:
        raise RuntimeError('The KD doctor ran no iteration (empty data?).')
    diagnosis = average(hook.history)
    diagnosis.metrics = hook.metrics
    figure = None
    if out_dir:
        from .doctor_plot import plot_doctor
        os.makedirs(out_dir, exist_ok=True)
        figure = plot_doctor(hook.history, osp.join(out_dir, 'kd_doctor.png'))
    return DoctorResult(diagnosis, hook.history, find_warnings(diagnosis),
                        figure)

"""The KD doctor's checks, once, at the start of every distillation run."""
from typing import Optional

from mmengine.hooks import Hook

from mmkd.analysis import diagnose, find_warnings, scan_teacher, with_scan
from mmkd.models.distill_model import DistillModel
from mmkd.registry import HOOKS


@HOOKS.register_module()
class KDDoctorHook(Hook):
    """Runs :func:`mmkd.analysis.kd_doctor.diagnose` on one batch (the
    first training samples) before the first iteration, looks for outliers
    in the teacher's recorded maps on more samples (the teacher alone:
    :func:`~mmkd.analysis.kd_doctor.scan_teacher`), and logs the table and
    the warnings through the runner's logger (MMLogger).

    :class:`~mmkd.engine.DistillRunner` registers it unless
    ``distill.diagnose=False``. It does not change the run: no optimizer
    step, no ``.grad`` written, buffers, module modes and random states put
    back. Under DDP every rank runs it on the same batch (the student's
    forward may hold collectives, e.g. mmdet's ``reduce_mean`` or SyncBN),
    outside the DDP wrapper; only rank 0's logger prints.

    Args:
        scan_samples: Training samples the teacher is scanned on (0: none;
            ``distill.diagnose=dict(scan_samples=...)``).
        raise_errors: Let an error inside the diagnosis stop the run
            (default: log it as a warning and train on).
    """
    # Before other hooks' ``before_train``, so that what they set up for
    # training (e.g. hooks counting teacher forwards) does not see it. The
    # weight schedules set their factors later (``before_train_epoch``):
    # the diagnosis uses the factors the run starts with.
    priority = 'VERY_HIGH'

    def __init__(self, scan_samples: int = 64,
                 raise_errors: bool = False) -> None:
        self.scan_samples = scan_samples
        self.raise_errors = raise_errors
        self.diagnosis = None  # the last Diagnosis, for tests and users

    def before_train(self, runner) -> None:
        model = runner.model
        if not isinstance(model, DistillModel) or (
                model.teacher is None and not model.self_distill):
            return
        try:
            diagnosis = diagnose(model, runner._probe_batch())
            scanned = ''
            if self.scan_samples > 0 and model.teacher is not None:
                batches = runner._probe_batches(self.scan_samples)
                try:
                    diagnosis = with_scan(diagnosis,
                                          scan_teacher(model, batches))
                finally:
                    batches.close()
                samples = min(self.scan_samples,
                              len(runner.train_loop.dataloader.dataset))
                scanned = (f'; the teacher alone on the first {samples} '
                           'training samples for outliers')
        except Exception as e:  # noqa: BLE001  (diagnosis must not kill runs)
            if self.raise_errors:
                raise
            runner.logger.warning(
                'mmkd doctor: the start-of-run diagnosis failed '
                f'({type(e).__name__}: {e}); training goes on. Turn it off '
                'with '
                'distill.diagnose=False.')
            return
        self.diagnosis = diagnosis
        runner.logger.info(f'mmkd doctor (one batch, before training{scanned}'
                           '; distill.diagnose=False turns this off):\n' +
                           diagnosis.table())
        warnings = find_warnings(diagnosis)
        for warning in warnings:
            runner.logger.warning(f'mmkd doctor: {warning}')
        if not warnings:
            runner.logger.info('mmkd doctor: no warnings.')

    @property
    def last(self) -> Optional[object]:
        """The diagnosis logged at the start of the run (or None)."""
        return self.diagnosis

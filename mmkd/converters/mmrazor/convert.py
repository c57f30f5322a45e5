"""Convert an MMRazor distillation config: the top-level entry that runs
the part converters and writes the mmkd config."""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..config_writer import format_assignments, format_value
from .architecture import (check_algorithm, convert_init_cfg,
                           convert_student, convert_teacher)
from .common import Report, UnmappableError
from .load import load_razor_config
from .losses import validate_losses
from .mappings import distiller_losses
from .runner import runner_settings
from .self_distill import self_distill_losses
from .sources import ConfigSources

__all__ = ['Conversion', 'convert_mmrazor_config', 'write_mmrazor_config']


@dataclass
class Conversion:
    """The result of :func:`convert_mmrazor_config`.

    Attributes:
        bases (list[str]): The converted config's ``_base_``.
        settings (dict): Top-level keys written after ``_base_`` (runner
            settings where MMRazor's differ from the bases', ``model``
            changes, ``runner_type``, ``distill``).
        notes (list[str]): What was mapped differently or dropped, in plain
            words (written as comments into the file).
        source (str): The MMRazor config's path.
    """
    bases: List[str]
    settings: Dict[str, Any]
    notes: List[str] = field(default_factory=list)
    source: str = ''

    @property
    def distill(self) -> dict:
        return self.settings['distill']

    def to_text(self) -> str:
        """The mmkd config file's text."""
        lines = [f'# mmkd config converted from the MMRazor config '
                 f'{self.source}', '# by tools/convert_mmrazor_config.py.']
        if self.notes:
            lines.append('# Notes:')
            for note in self.notes:
                lines += ['#   ' + line if i == 0 else '#     ' + line
                          for i, line in enumerate(_wrap(note, 72))]
        lines.append(f'_base_ = {format_value(self.bases, 0, 9)}')
        return '\n'.join(lines) + '\n\n' + format_assignments(
            list(self.settings.items()))


def _wrap(text: str, width: int) -> List[str]:
    lines, line = [], ''
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f'{line} {word}' if line else word
    return lines + [line]


def convert_mmrazor_config(path: str,
                           mmrazor_root: Optional[str] = None) -> Conversion:
    """Convert the MMRazor distillation config at ``path``.

    Args:
        path: An MMRazor 1.x config (``SingleTeacherDistill``,
            ``FpnTeacherDistill`` or ``OverhaulFeatureDistillation`` with a
            ``ConfigurableDistiller``/``OFDDistiller``, or ``SelfDistill``
            with a ``BYOTDistiller``).
        mmrazor_root: A checkout of MMRazor; its ``configs/`` resolve the
            ``mmrazor::`` paths (their files are inlined in the result).

    Returns:
        Conversion: The mmkd config (``to_text()``) and notes.

    Raises:
        UnmappableError: Parts mmkd cannot reproduce, all of them named.
    """
    sources = ConfigSources(mmrazor_root)
    cfg = load_razor_config(path, sources)
    report = Report()
    model, algorithm = check_algorithm(cfg, path, report)
    stu = convert_student(model, path, report, sources)
    if algorithm == 'SelfDistill':  # BYOT: the student teaches its exits
        distill = dict(self_distill=True, losses=self_distill_losses(
            model.get('distiller') or {}, report))
    else:
        distill = dict(teacher=convert_teacher(
            model, cfg.get('default_scope'), stu.preprocessor, report,
            sources))
        distill['losses'] = distiller_losses(model.get('distiller') or {},
                                             report)
    if not model.get('calculate_student_loss', True):
        distill['student_gt_loss'] = False
        report.notes.append(
            'calculate_student_loss=False -> student_gt_loss=False (mmkd '
            "runs the student in mode='tensor', MMRazor in mode='loss' "
            'without its losses).')
    if algorithm == 'FpnTeacherDistill':
        report.notes.append(
            'FpnTeacherDistill ran only teacher.extract_feat: mmkd stops '
            "the teacher's forward once the recorded modules ran.")
    settings = stu.settings
    settings.update(runner_settings(cfg, stu.base_cfg, distill, report))
    init = convert_init_cfg(model, report) or stu.init
    if init:
        distill['student_init'] = init
    settings['runner_type'] = 'mmkd.DistillRunner'
    settings['distill'] = distill
    if report.problems:
        raise UnmappableError(report.problems)
    validate_losses(distill['losses'])
    report.notes[:0] = [
        f'{old} -> {new}: the installed package renamed it.'
        for old, new in sources.renamed.items()] + [
        f'{name}: read from --mmrazor-root {mmrazor_root} and inlined.'
        for name in sources.inlined]
    written = stu.written or stu.base_cfg
    for key, value in settings.items():  # distill's are merged elsewhere
        if key != 'distill':
            settings[key] = _needed_deletes(value, written.get(key))
    return Conversion(stu.bases, settings, report.all_notes(), path)


def _needed_deletes(value: Any, base: Any) -> Any:
    """``value`` without the ``_delete_`` keys that would stay in the
    loaded config: those of dicts with nothing under them in the bases
    (``base``), or inside a replaced dict."""
    if not isinstance(value, dict):
        return value
    if value.get('_delete_') and not isinstance(base, dict):
        value = {k: v for k, v in value.items() if k != '_delete_'}
    if value.get('_delete_') or not isinstance(base, dict):
        base = {}
    return {k: _needed_deletes(v, base.get(k)) for k, v in value.items()}


def write_mmrazor_config(path: str, out: str,
                         mmrazor_root: Optional[str] = None) -> Conversion:
    """Convert ``path`` and write the mmkd config to ``out`` (nothing is
    written when :class:`UnmappableError` is raised)."""
    conversion = convert_mmrazor_config(path, mmrazor_root)
    text = conversion.to_text()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text)
    return conversion

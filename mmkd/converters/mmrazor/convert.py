"""Convert an MMRazor distillation config: the top-level entry that runs
the part converters and writes the mmkd config."""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List

from ..config_writer import format_assignments, format_value
from .architecture import (check_algorithm, convert_student,
                           convert_teacher)
from .common import Report, UnmappableError
from .load import load_razor_config
from .losses import validate_losses
from .mappings import distiller_losses
from .runner import runner_settings

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


def convert_mmrazor_config(path: str) -> Conversion:
    """Convert the MMRazor distillation config at ``path``.

    Args:
        path: An MMRazor 1.x config (``SingleTeacherDistill``,
            ``FpnTeacherDistill`` or ``OverhaulFeatureDistillation`` with a
            ``ConfigurableDistiller``/``OFDDistiller``).

    Returns:
        Conversion: The mmkd config (``to_text()``) and notes.

    Raises:
        UnmappableError: Parts mmkd cannot reproduce, all of them named.
    """
    cfg = load_razor_config(path)
    report = Report()
    model, algorithm = check_algorithm(cfg, path, report)
    stu = convert_student(model, path, report)
    distill = dict(teacher=convert_teacher(model, cfg.get('default_scope'),
                                           stu.preprocessor, report))
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
    if stu.init:
        distill['student_init'] = stu.init
    settings['runner_type'] = 'mmkd.DistillRunner'
    settings['distill'] = distill
    if report.problems:
        raise UnmappableError(report.problems)
    validate_losses(distill['losses'])
    return Conversion(stu.bases, settings, report.all_notes(), path)


def write_mmrazor_config(path: str, out: str) -> Conversion:
    """Convert ``path`` and write the mmkd config to ``out`` (nothing is
    written when :class:`UnmappableError` is raised)."""
    conversion = convert_mmrazor_config(path)
    text = conversion.to_text()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text)
    return conversion

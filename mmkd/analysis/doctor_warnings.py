"""The KD doctor's plain-word warnings: what the numbers of a
:class:`~mmkd.analysis.diagnosis.Diagnosis` say is wrong, each with the
number behind it, and the thresholds that raise them."""
import math
from typing import TYPE_CHECKING, List

from .text_table import format_number

if TYPE_CHECKING:
    from .diagnosis import Diagnosis, LossDiagnosis

# A gradient ratio above HIGH (or below LOW) is warned about.
GRAD_RATIO_HIGH = 10.0
GRAD_RATIO_LOW = 0.01
# A loss below NEAR_ZERO x the task loss (or absolutely) is "~0".
NEAR_ZERO = 1e-6
# Warn when more than this share of a recorded tensor's channels is dead.
DEAD_SHARE = 0.5
# Warn when the cosine between a loss's and the task's gradient is below.
COSINE_CONFLICT = -0.3
# Warn when one position of a teacher feature map (mean |value| over
# channels) is more than this many times the median position.
PEAK_RATIO = 20.0
# ... and call it a sample out of scale (not one position) when that
# sample's median position is above this times the batch's.
IMAGE_RATIO = 5.0


def find_warnings(diagnosis: 'Diagnosis') -> List[str]:
    """Plain-word warnings, each with the number behind it."""
    out = []
    if diagnosis.teacher_training:
        names = diagnosis.teacher_training
        out.append(
            f'the teacher is in train mode ({len(names)} modules, e.g. '
            f'{names[:3]}): its BatchNorm statistics drift and its features '
            'change from batch to batch. Keep it in eval mode (DistillModel.'
            'train() does; something switched it back).')
    if diagnosis.teacher_trainable:
        out.append(
            f'{len(diagnosis.teacher_trainable)} teacher parameters require '
            f'grad (e.g. {diagnosis.teacher_trainable[:3]}): the teacher '
            'should be frozen.')
    for d in diagnosis.losses:
        out += _loss_warnings(d, diagnosis)
    m = diagnosis.metrics
    if m:
        where = f'{m["key"]} on the first {m["images"]} val images'
        if m['teacher'] < 0.01:
            out.append(
                f'the teacher scores {m["teacher"]:.4f} {where}: it looks '
                'untrained (is distill.teacher.checkpoint the trained '
                'weights, for this data and these classes?).')
        elif m['teacher'] <= m['student']:
            out.append(
                f'the teacher ({m["teacher"]:.4f}) is not better than the '
                f'student ({m["student"]:.4f}), {where}: there is little to '
                'distil. Use a stronger (larger or longer-trained) teacher.')
    return out


def _loss_warnings(d: 'LossDiagnosis', diagnosis: 'Diagnosis'
                   ) -> List[str]:
    key, out = d.key, []
    if not math.isfinite(d.value):
        return [f'{key} is {d.value} on this batch.']
    if not d.student_grad_path or d.reached == 0:
        why = ('the student tensor at ' + d.student_spec +
               ' does not require grad (recorded in a frozen part, under '
               'no_grad, or detached)') if not d.student_grad_path else (
            'its gradient reaches none of the student\'s parameters')
        out.append(f'{key}: {why}; this loss cannot train the student '
                   f'({d.reached} student parameters reached).')
    task = diagnosis.task_loss
    if abs(d.value) <= NEAR_ZERO * (abs(task) if math.isfinite(task)
                                    else 1.0) or abs(d.value) < 1e-12:
        if d.log_key:  # self-distillation (e.g. D-FINE's DDF)
            why = ('the parts of the model it compares still agree (a '
                   'self-distillation term starts at ~0 when they start '
                   'alike, e.g. zero-initialised refinement branches, and '
                   'grows as they diverge)')
        elif d.self_distill:
            why = ("the student's own targets still agree with it or are "
                   'not there yet (e.g. PS-KD before a sample\'s first '
                   'visit: its memory holds the label); a self-distillation '
                   'term can start at ~0 and grow')
        elif d.identical:
            why = ("the student's and the teacher's tensors are identical "
                   '(is the teacher the student, with the same weights?)')
        elif d.teacher is not None and d.teacher.std == 0:
            why = f'the teacher\'s {d.teacher_spec} is constant (std 0)'
        elif d.student is not None and d.student.std == 0:
            why = f'the student\'s {d.student_spec} is constant (std 0)'
        else:
            why = 'the student already matches the teacher there'
        out.append(f'{key} is {d.value:.3g} at the start '
                   f'({format_number(d.task_ratio)} of the task loss): '
                   f'{why}. It teaches nothing'
                   f'{" yet" if d.log_key or d.self_distill else ""}.')
    elif d.grad_ratio == float('inf'):
        out.append(
            f'{key}: the task loss gives the {d.shared} student parameter '
            'tensors this loss reaches no gradient at all (norm 0) on this '
            f'batch, the loss gives them {d.grad_norm:.3g}: distillation '
            'alone drives them (a zero or constant initialised head?).')
    elif d.grad_ratio > GRAD_RATIO_HIGH:
        out.append(
            f'{key}: gradient {d.grad_ratio:.0f}x the task gradient (norm '
            f'{d.grad_norm:.3g} vs {d.task_grad_norm:.3g} on the {d.shared} '
            'student parameter tensors both reach; the loss is '
            f'{format_number(d.task_ratio)}x the task loss); the student '
            "will follow the teacher's features before learning its task. "
            'Lower '
            f'loss_weight from {d.weight:g} to about '
            f'{d.suggested_weight():.2g} ({d.weight:g} x '
            f'{d.task_grad_norm:.3g} / {d.grad_norm:.3g}, which makes the '
            'two gradients equal in norm).')
    elif d.grad_ratio < GRAD_RATIO_LOW:
        out.append(
            f'{key}: gradient {d.grad_ratio:.2g}x the task gradient (norm '
            f'{d.grad_norm:.3g} vs {d.task_grad_norm:.3g}): it barely moves '
            f'the student. Raise loss_weight from {d.weight:g} to about '
            f'{d.suggested_weight(0.1):.2g} (a tenth of the task gradient) '
            f'to {d.suggested_weight():.2g} (equal norms).')
    if d.cosine < COSINE_CONFLICT:
        out.append(
            f'{key}: its gradient points against the task\'s (cosine '
            f'{d.cosine:+.2f}): the two pull the shared parameters in '
            'opposite directions.')
    t = d.teacher
    if t is not None and t.peak > PEAK_RATIO:
        where = (f"the teacher's {d.teacher_spec} {list(t.shape)} (sample "
                 f'{t.peak_at[0]} {t.peak_where}')
        dominated = (
            'A loss that compares raw values (MSE, MGD, FGD) is dominated '
            'by it, and an attention taken from the teacher (FGD, CWD) puts '
            'its weight there. A loss that normalises each channel (PKD) is '
            'less affected')
        if t.peak_image > IMAGE_RATIO:
            out.append(
                f'{key}: the whole map of {where}) is out of scale: its '
                f'median position is {t.peak_image:.0f}x the batch\'s median '
                f'position, its highest (row {t.peak_at[1]}, column '
                f'{t.peak_at[2]}) {t.peak:.0f}x: the teacher\'s features '
                f'blow up on that image. {dominated}.')
        else:
            out.append(
                f'{key}: one position of {where}, row {t.peak_at[1]}, column '
                f'{t.peak_at[2]}) is {t.peak:.0f}x the median position (mean '
                '|value| over channels): an outlier activation of the '
                f'teacher. {dominated}; such outliers often sit at an image '
                'border or in padding.')
    for who, stats, spec in (('teacher', d.teacher, d.teacher_spec),
                             ('student', d.student, d.student_spec)):
        if stats is not None and stats.dead > DEAD_SHARE:
            out.append(
                f'{key}: {stats.dead:.0%} of the {who}\'s channels at {spec} '
                f'{list(stats.shape)} are dead (constant over the batch): '
                'the loss compares nothing there.')
    return out

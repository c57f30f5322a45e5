"""Convert MMRazor distillation checkpoints into plain model checkpoints.

An MMRazor checkpoint holds the whole algorithm: ``architecture.*`` (the
student), ``teacher.*`` and ``distiller.*`` (connectors, loss modules).
mmkd checkpoints hold only the student, so the student's part becomes a
plain checkpoint that loads into the student's own config.
"""
import os
import os.path as osp
from typing import Dict, Optional, Tuple

import torch

STUDENT = 'architecture.'
TEACHER = 'teacher.'


def is_mmrazor_state(state: Dict[str, object]) -> bool:
    """Whether a state dict is an MMRazor algorithm's (``architecture.``
    keys)."""
    return any(k.startswith(STUDENT) for k in state)


def split_mmrazor_state(state: Dict[str, object]
                        ) -> Tuple[dict, dict, dict]:
    """Split an MMRazor algorithm's state dict.

    Args:
        state: The checkpoint's ``state_dict``.

    Returns:
        tuple: ``(student, teacher, rest)``: the ``architecture.`` and
        ``teacher.`` keys without their prefix, and the remaining keys
        (``distiller.`` connectors and losses, ``data_preprocessor.``).
    """
    student, teacher, rest = {}, {}, {}
    for key, value in state.items():
        if key.startswith(STUDENT):
            student[key[len(STUDENT):]] = value
        elif key.startswith(TEACHER):
            teacher[key[len(TEACHER):]] = value
        else:
            rest[key] = value
    return student, teacher, rest


def convert_mmrazor_checkpoint(src: str, dst: str,
                               teacher_dst: Optional[str] = None) -> dict:
    """Write the student of MMRazor checkpoint ``src`` as a plain
    checkpoint ``dst`` (``meta`` kept; optimizer, schedulers and message
    hub dropped: they belong to the algorithm's parameters).

    Args:
        src: The MMRazor checkpoint (read weights-only on the CPU).
        dst: Where the student checkpoint goes.
        teacher_dst: Where the teacher's checkpoint goes; None drops it.

    Returns:
        dict: Key counts: ``student``, ``teacher``, ``dropped`` (the other
        keys of the algorithm, e.g. ``distiller.`` connectors).

    Raises:
        ValueError: ``src`` has no ``architecture.`` keys, or
            ``teacher_dst`` is given and it has no ``teacher.`` keys.
    """
    from mmkd.models.teacher import safe_load
    ckpt = safe_load(src, 'MMRazor')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not is_mmrazor_state(state):
        raise ValueError(f'{src!r} is not an MMRazor distillation checkpoint '
                         '(no `architecture.` keys in its state_dict).')
    student, teacher, rest = split_mmrazor_state(state)
    meta = ckpt.get('meta') if 'state_dict' in ckpt else None
    _save(dict(meta=meta, state_dict=student), dst)
    if teacher_dst is not None:
        if not teacher:
            raise ValueError(f'{src!r} has no `teacher.` keys to extract.')
        _save(dict(meta=meta, state_dict=teacher), teacher_dst)
    return dict(student=len(student), teacher=len(teacher), dropped=len(rest))


def _save(ckpt: dict, path: str) -> None:
    if ckpt.get('meta') is None:
        ckpt.pop('meta')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    torch.save(ckpt, path)

"""Convert an MMRazor 1.x distillation config into an mmkd config.

MMRazor describes distillation as a model: ``model = dict(_scope_='mmrazor',
type='SingleTeacherDistill' | 'FpnTeacherDistill', architecture=...,
teacher=..., teacher_ckpt=..., distiller=dict(type='ConfigurableDistiller',
student_recorders=..., teacher_recorders=..., connectors=...,
distill_losses=..., loss_forward_mappings=...))``. mmkd keeps the student's
own config and adds a ``distill`` dict; :func:`convert_mmrazor_config` maps
one onto the other, and refuses (:class:`UnmappableError`, naming every
item) what mmkd cannot do the same way.

One module per part: :mod:`.load` (reading the configs, through
:mod:`.sources`: mmpretrain for mmcls, :mod:`.renames`, ``mmrazor::``),
:mod:`.model_parts` (MMRazor's backbones in the models),
:mod:`.architecture` (algorithm, student, teacher), :mod:`.mappings` (the
distiller's losses with their :mod:`.recorders` and :mod:`.connectors`),
:mod:`.losses`, :mod:`.self_distill` (``SelfDistill``'s BYOT),
:mod:`.runner` (the runner settings) and :mod:`.convert` (the entry point
and the written file).
"""
from .common import UnmappableError
from .convert import Conversion, convert_mmrazor_config, write_mmrazor_config

__all__ = [
    'Conversion', 'UnmappableError', 'convert_mmrazor_config',
    'write_mmrazor_config'
]

"""MMRazor's ``SelfDistill`` with a ``BYOTDistiller`` (BYOT, Zhang et al.,
ICCV 2019) as mmkd's self-distillation with :class:`~mmkd.models.BYOTLoss`.

MMRazor gives each shallow exit (one ``BYOTConnector``) three losses: an
``L2Loss`` of the exit's feature against the deepest pooled feature, a
``CrossEntropyLoss`` of its logits against the labels and a
``KLDivergence`` against the deepest logits. mmkd computes the three in one
``BYOTLoss`` per exit, with a ``BYOTExit`` connector, under
``distill = dict(self_distill=True)``."""
import math
import re
from typing import Dict, Optional, Tuple

from .common import Report, razor_type
from .recorders import record_spec

__all__ = ['self_distill_losses']

BYOT_KEYS = ('type', '_scope_', 'student_recorders', 'teacher_recorders',
             'connectors', 'distill_losses', 'loss_forward_mappings')
# MMRazor loss type -> its part of BYOTLoss and the arguments mmkd maps
PARTS = {
    'L2Loss': ('feature', ('loss_weight', 'normalize', 'dist', 'mult',
                           'div_element')),
    'mmcls.CrossEntropyLoss': ('label', ('loss_weight', 'use_sigmoid',
                                         'use_soft', 'reduction')),
    'mmpretrain.CrossEntropyLoss': ('label', ('loss_weight', 'use_sigmoid',
                                              'use_soft', 'reduction')),
    'KLDivergence': ('soft', ('loss_weight', 'tau', 'reduction',
                              'teacher_detach')),
}
# what each part needs for mmkd's BYOTLoss to compute MMRazor's term
SUPPORTED = {
    'feature': dict(normalize=False, dist=True),
    'label': dict(use_sigmoid=False, use_soft=False, reduction='mean'),
    'soft': dict(reduction='batchmean', teacher_detach=True),
}
DEFAULTS = dict(normalize=True, dist=False, use_sigmoid=False,
                use_soft=False, reduction=None, teacher_detach=True)


def self_distill_losses(distiller: dict, report: Report) -> Dict[str, dict]:
    """``distill.losses`` of MMRazor's ``BYOTDistiller``: one ``BYOTLoss``
    per connector (named ``byot_<connector>``).

    Args:
        distiller (dict): ``model.distiller``.
        report (Report): Collects the problems and notes.

    Returns:
        dict: The mmkd losses that could be mapped.
    """
    if razor_type(distiller) != 'BYOTDistiller':
        report.problems.append(
            f'model.distiller.type {razor_type(distiller)!r} under '
            'SelfDistill (mmkd converts BYOTDistiller, BYOT).')
        return {}
    for key in distiller:
        if key not in BYOT_KEYS:
            report.problems.append(f'model.distiller.{key}')
    recorders = dict(student=distiller.get('student_recorders') or {},
                     teacher=distiller.get('teacher_recorders') or {})
    connectors = distiller.get('connectors') or {}
    mappings = distiller.get('loss_forward_mappings') or {}
    exits: Dict[str, Dict[str, Tuple[str, dict, str, Optional[str]]]] = {}
    for name, cfg in (distiller.get('distill_losses') or {}).items():
        part = _part(name, cfg, mappings.get(name), recorders, report)
        if part is not None:
            kind, connector, s_spec, t_spec = part
            exits.setdefault(connector, {})[kind] = (name, cfg, s_spec,
                                                     t_spec)
    losses = {}
    for connector, parts in exits.items():
        loss = _byot_loss(connector, connectors.get(connector), parts,
                          report)
        if loss is not None:
            short = connector[5:] if connector.startswith('loss_') else \
                connector
            losses[f'byot_{short}'] = loss
    if losses:
        report.notes += [
            'BYOTDistiller: the L2Loss, CrossEntropyLoss and KLDivergence of '
            'each BYOTConnector -> one BYOTLoss (loss_weight = CE + KL '
            'weight, alpha = KL / that, beta = L2 / that); the labels from '
            'the data samples (the gt_labels recorder is dropped).',
            'BYOTConnector (DartsSepConv attention, log2(out/in) stride-2 '
            'separable convs, AvgPool2d) -> BYOTExit, the official '
            "BYOT exit (1x1, kxk stride k, 1x1 convs with BN/ReLU, global "
            'average pool, fc) with k the same overall downsampling: a '
            'different exit architecture.',
            "KLDivergence -> BYOTLoss's soft cross-entropy with the deepest "
            'distribution (the official form): the same gradient, a value '
            'larger by tau^2 times its entropy.',
            "MMRazor's L2Loss subtracts the deepest feature from the exit's "
            '(N, C) one as recorded: an (N, C, 1, 1) record such as '
            "neck.gap's broadcasts to every pair of samples and channels "
            '(N, C, N, C); BYOTLoss flattens both and compares them sample '
            'by sample.']
    return losses


def _part(name: str, cfg: dict, mapping: Optional[dict],
          recorders: Dict[str, dict], report: Report
          ) -> Optional[Tuple[str, str, str, Optional[str]]]:
    """``(part, connector, student spec, teacher spec)`` of one MMRazor
    loss; None when it is left out or unmappable."""
    if not mapping:
        report.notes.append(f'distill_losses.{name} has no '
                            'loss_forward_mappings entry: MMRazor never '
                            'computed it, so it is left out.')
        return None
    loss_type = cfg.get('type', '')
    loss_type = loss_type[len('mmrazor.'):] if loss_type.startswith(
        'mmrazor.') else loss_type
    if loss_type not in PARTS:
        report.problems.append(
            f'distill_losses.{name}: {loss_type!r} in a BYOTDistiller '
            f'(mmkd maps {", ".join(PARTS)} to BYOTLoss).')
        return None
    kind, args = PARTS[loss_type]
    wrong = [k for k in cfg if k not in args + ('type', '_scope_')]
    wrong += [k for k, v in SUPPORTED[kind].items()
              if cfg.get(k, DEFAULTS[k]) not in (v, None)]
    if wrong:
        report.problems.append(
            f'distill_losses.{name} ({loss_type}): {sorted(set(wrong))} '
            f'(BYOTLoss computes {SUPPORTED[kind]}).')
        return None
    students = [(k, v) for k, v in mapping.items() if v.get('from_student')
                and v.get('connector')]
    teachers = [(k, v) for k, v in mapping.items()
                if not v.get('from_student')]
    expected_idx = 0 if kind == 'feature' else 1
    if len(students) != 1 or len(teachers) != 1 or \
            students[0][1].get('connector_idx') != expected_idx:
        report.problems.append(
            f'loss_forward_mappings.{name}: BYOT takes output '
            f'{expected_idx} of a connector on the student and one teacher '
            f'record, got {list(mapping)}.')
        return None
    (s_arg, s_item), (t_arg, t_item) = students[0], teachers[0]
    s_spec = _student_spec(name, s_arg, s_item, recorders, report)
    t_spec = None
    if kind != 'label':  # the labels come from the data samples
        t_spec = record_spec(name, t_arg, t_item, recorders, report)
        if t_spec is None:
            return None
    if s_spec is None:
        return None
    return kind, s_item['connector'], s_spec, t_spec


def _student_spec(name: str, arg: str, item: dict,
                  recorders: Dict[str, dict], report: Report
                  ) -> Optional[str]:
    """The record spec of the exit's input. A ResNet block's ``relu``
    (``layer<i>.<j>.relu``) runs once per activation (2 or 3 times per
    forward) and mmkd records the list of its calls; MMRazor's record_idx
    picks one, so it is kept."""
    spec = record_spec(name, arg, item, recorders, report)
    source = (recorders['student'].get(item.get('recorder')) or {}).get(
        'source', '')
    if spec is not None and re.search(r'\.\d+\.relu$', source) and \
            not item.get('record_idx'):
        spec += '[0]'
        report.loss_note(name, f'{source} is a ResNet block\'s ReLU, called '
                         'once per activation: record_idx 0 -> the first '
                         "call ('[0]', after the block's conv1/bn1).")
    return spec


def _byot_loss(connector: str, conn_cfg: Optional[dict],
               parts: Dict[str, tuple], report: Report) -> Optional[dict]:
    """One ``BYOTLoss`` from the parts of connector ``connector``."""
    missing = [k for k in ('label', 'soft', 'feature') if k not in parts]
    if missing:
        report.problems.append(
            f'connectors.{connector}: BYOT needs a CrossEntropyLoss, a '
            'KLDivergence and an L2Loss (weight 0 for none) on it; '
            f'missing {missing}.')
        return None
    if razor_type(conn_cfg) != 'BYOTConnector':
        report.problems.append(f'connectors.{connector}: '
                               f'{razor_type(conn_cfg)!r} (BYOT maps '
                               'BYOTConnector).')
        return None
    specs = {parts[k][2] for k in parts}
    if len(specs) != 1:
        report.problems.append(f'connectors.{connector} takes different '
                               f'student records {sorted(specs)}.')
        return None
    exit_cfg = _exit(connector, conn_cfg, report)
    if exit_cfg is None:
        return None
    weight = {k: parts[k][1].get('loss_weight', 1.0) for k in parts}
    total = weight['label'] + weight['soft']
    if total <= 0:
        report.problems.append(f'connectors.{connector}: CE and KL weights '
                               'sum to 0.')
        return None
    soft_cfg, feature_cfg = parts['soft'][1], parts['feature'][1]
    return dict(
        type='BYOTLoss', student=specs.pop(),
        teacher=[parts['feature'][3], parts['soft'][3]],
        connector=exit_cfg, tau=soft_cfg.get('tau', 1.0),
        alpha=weight['soft'] / total, beta=weight['feature'] / total,
        feature_dist=feature_cfg.get('dist', False), loss_weight=total)


def _exit(connector: str, cfg: dict, report: Report) -> Optional[dict]:
    """``BYOTExit`` of a ``BYOTConnector``: its channels (times
    ``expansion``) and classes, the stride of its log2(out / in)
    separable convolutions compounded."""
    known = ('type', '_scope_', 'in_channel', 'out_channel', 'num_classes',
             'expansion', 'pool_size', 'kernel_size', 'stride', 'init_cfg')
    wrong = [k for k in cfg if k not in known]
    wrong += [f'no {k}' for k in ('in_channel', 'out_channel', 'num_classes')
              if k not in cfg]
    stride = cfg.get('stride', 1)
    if wrong or not isinstance(stride, int):
        report.problems.append(f'connectors.{connector}: arguments '
                               f'{wrong or ["stride " + repr(stride)]}.')
        return None
    expansion = cfg.get('expansion', 4)
    scale = math.log2(cfg['out_channel'] / cfg['in_channel'])
    return dict(type='BYOTExit', in_channels=cfg['in_channel'] * expansion,
                out_channels=cfg['out_channel'] * expansion,
                num_classes=cfg['num_classes'],
                stride=stride**int(round(scale)))

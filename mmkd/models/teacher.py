"""Build a frozen teacher from a config path and a checkpoint."""
import copy
import os.path as osp
from collections import OrderedDict
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import BaseModule, revert_sync_batchnorm
from mmengine.registry import MODELS, DefaultScope

from mmkd.utils.safe_load import REMOTE_PREFIXES, safe_load


def load_config(config: Union[str, dict, Config], what: str = 'teacher'
                ) -> Config:
    """Load ``config``: a file path, a scoped ``pkg::path`` or a dict."""
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return Config(config)
    if not isinstance(config, str):
        raise TypeError(f'{what} config must be a path or a dict, got '
                        f'{type(config).__name__}')
    path = config
    if '::' in config:  # e.g. 'mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py'
        try:
            path, _ = Config._get_cfg_path(config, '')
        except (FileNotFoundError, ValueError, AssertionError,
                ModuleNotFoundError) as e:
            raise FileNotFoundError(
                f'The {what} config {config!r} cannot be found: {e}') from e
    if not osp.isfile(path):
        raise FileNotFoundError(f'The {what} config {config!r} does not exist.')
    return Config.fromfile(path)


def load_state_dict_from(checkpoint: str, what: str = 'teacher') -> dict:
    """Read a checkpoint's state dict on the CPU (``module.`` prefixes of DDP
    checkpoints removed; of an MMRazor distillation checkpoint only its
    student, the ``architecture.`` keys without that prefix)."""
    if not isinstance(checkpoint, str) or not checkpoint:
        raise ValueError(
            f'A {what} checkpoint is required (distill.teacher.checkpoint): '
            'an untrained teacher teaches nothing.')
    if not checkpoint.startswith(REMOTE_PREFIXES) and not osp.isfile(
            checkpoint):
        raise FileNotFoundError(
            f'The {what} checkpoint {checkpoint!r} does not exist.')
    ckpt = safe_load(checkpoint, what)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict):
        raise ValueError(f'{checkpoint!r} holds no state dict.')
    out = OrderedDict((k[7:] if k.startswith('module.') else k, v)
                      for k, v in state.items())
    # the modules' state-dict versions: mmdet3d's spconv 2 layers read the
    # layout of their kernels from them (a checkpoint without them is
    # taken for the spconv 1 layout and permuted)
    meta = getattr(state, '_metadata', None)
    if meta is not None:
        out._metadata = OrderedDict(
            ('' if k == 'module' else k[7:] if k.startswith('module.') else k,
             v) for k, v in meta.items())
    return _mmrazor_student(out, checkpoint, what)


def _mmrazor_student(state: dict, checkpoint: str, what: str) -> dict:
    """The student (``architecture.`` keys, prefix removed) of an MMRazor
    distillation checkpoint; other state dicts unchanged."""
    if not any(k.startswith('architecture.') for k in state):
        return state
    out = OrderedDict((k[13:], v) for k, v in state.items()
                      if k.startswith('architecture.'))
    meta = getattr(state, '_metadata', None)
    if meta is not None:
        out._metadata = OrderedDict(
            ('' if k == 'architecture' else k[13:], v)
            for k, v in meta.items() if k == 'architecture'
            or k.startswith('architecture.'))
    print_log(f'mmkd: the {what} checkpoint {checkpoint!r} is an MMRazor '
              f'distillation checkpoint: loading its student (the '
              f'{len(out)} `architecture.` keys, prefix removed) and '
              f'ignoring its {len(state) - len(out)} other keys (teacher., '
              'distiller.)', logger='current')
    return out


def build_teacher(config: Union[str, dict, Config],
                  checkpoint: Optional[str],
                  cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the teacher model of ``config`` and load ``checkpoint`` on CPU.

    The returned model is in eval mode, frozen (no parameter requires grad)
    and marked initialised, so ``init_weights`` can never overwrite it.

    Raises:
        FileNotFoundError: config or checkpoint does not exist.
        ValueError: the checkpoint does not fit the teacher (missing,
            unexpected or wrongly shaped keys are listed).
    """
    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise ValueError(f'The teacher config {config!r} has no `model`.')
    state = load_state_dict_from(checkpoint)
    model_cfg = copy.deepcopy(cfg.model)
    if isinstance(model_cfg, dict) and cfg.get('data_preprocessor'):
        # as mmengine's Runner does: mmpretrain (and some mmseg) configs set
        # the normalisation at the top level, not in `model`
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        teacher = MODELS.build(model_cfg)
    teacher = revert_sync_batchnorm(teacher)

    own = teacher.state_dict()
    missing = [k for k in own if k not in state
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in own]
    mismatched = [f'{k}: checkpoint {tuple(state[k].shape)} vs model '
                  f'{tuple(own[k].shape)}' for k in own
                  if k in state and hasattr(state[k], 'shape')
                  and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        raise ValueError(
            f'The checkpoint {checkpoint!r} does not fit the teacher built '
            f'from {config!r}: {len(missing)} missing keys '
            f'{missing[:5]}, {len(unexpected)} unexpected keys '
            f'{unexpected[:5]}, {len(mismatched)} shape mismatches '
            f'{mismatched[:5]}.')
    teacher.load_state_dict(state, strict=False)

    for module in teacher.modules():
        if isinstance(module, BaseModule):
            module._is_init = True
    teacher.requires_grad_(False)
    teacher.eval()
    return teacher

"""Record outputs (or inputs) of submodules by dotted path with forward hooks."""
import difflib
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn

_SPEC = re.compile(r'^(?P<path>[\w.]*)(?::(?P<source>input|output))?'
                   r'(?P<index>(?:\[-?\d+\])*)$')


class StopForward(Exception):
    """Raised by a recorder hook once everything needed has been recorded."""


@dataclass(frozen=True)
class RecordSpec:
    """What to record: ``'<module path>[:output|:input][i][j]...'``.

    Examples: ``'neck.out_convs.0'``, ``'neck[2]'`` (third FPN level of the
    neck's tuple output), ``'head:input[0]'``, ``'head[0]'`` (SimCC x logits).
    A list of specs (:class:`SpecGroup`) records a tuple, e.g. PointPillars'
    pillar features with their point counts: ``['voxel_encoder',
    'voxel_encoder:input[1]']``.
    """
    path: str
    source: str = 'output'
    index: Tuple[int, ...] = ()

    @classmethod
    def parse(cls, spec: Union[str, Sequence[str]]
              ) -> Union['RecordSpec', 'SpecGroup']:
        if isinstance(spec, (list, tuple)):
            if not spec:
                raise ValueError('An empty list of recorder specs.')
            return SpecGroup(tuple(cls.parse(s) for s in spec))
        match = _SPEC.match(spec.replace(' ', ''))
        if match is None:
            raise ValueError(
                f'Bad recorder spec {spec!r}: expected '
                "'<dotted.module.path>[:output|:input][index]...', "
                "e.g. 'neck.out_convs.0' or 'head[0]'.")
        index = tuple(int(i) for i in re.findall(r'-?\d+', match['index']))
        return cls(match['path'], match['source'] or 'output', index)

    @property
    def key(self) -> Tuple[str, str]:
        return self.path, self.source

    @property
    def keys(self) -> Tuple[Tuple[str, str], ...]:
        return (self.key, )

    def __str__(self) -> str:
        index = ''.join(f'[{i}]' for i in self.index)
        return f'{self.path or "<model>"}:{self.source}{index}'


@dataclass(frozen=True)
class SpecGroup:
    """Several specs recorded together: the record is a tuple of theirs."""
    specs: Tuple[RecordSpec, ...]

    @property
    def keys(self) -> Tuple[Tuple[str, str], ...]:
        return tuple(spec.key for spec in self.specs)

    def __str__(self) -> str:
        return '(' + ', '.join(str(spec) for spec in self.specs) + ')'


def find_module(model: nn.Module, path: str, owner: str = 'model') -> nn.Module:
    """``model.get_submodule(path)`` with an error naming the closest paths."""
    modules = dict(model.named_modules())
    if path in modules:
        return modules[path]
    close = difflib.get_close_matches(path, list(modules), n=5, cutoff=0.5)
    prefix = path.rsplit('.', 1)[0] if '.' in path else ''
    siblings = [n for n in modules if prefix and n.startswith(prefix + '.')
                and n.count('.') == path.count('.')][:5]
    hints = list(dict.fromkeys(close + siblings))[:6]
    raise KeyError(
        f'No module {path!r} in the {owner} ({type(model).__name__}). '
        f'Closest existing paths: {hints or sorted(modules)[:10]}')


class ModuleRecorder:
    """Hooks a model's submodules and keeps what they produce per forward.

    Args:
        model (nn.Module): The model to record from.
        specs (list[RecordSpec | SpecGroup]): What to record.
        owner (str): 'student' or 'teacher', used in error messages.
    """

    def __init__(self, model: nn.Module,
                 specs: List[Union[RecordSpec, SpecGroup]],
                 owner: str = 'model') -> None:
        self.owner = owner
        self.keys = list(
            dict.fromkeys(k for spec in specs for k in spec.keys))
        self.records: Dict[Tuple[str, str], List[Any]] = {}
        # How many calls per forward each module makes (learnt by `probe`);
        # with `stop_early`, the forward is aborted once all are recorded.
        self.expected_calls: Optional[Dict[Tuple[str, str], int]] = None
        self.stop_early = False
        self.active = False
        self._handles = []
        self._submodules: Dict[str, List[str]] = {}
        for key in self.keys:
            module = find_module(model, key[0], owner)
            self._submodules[key[0]] = [
                f'{key[0]}.{name}' for name, _ in module.named_modules()
                if name][:6]
            self._handles.append(
                module.register_forward_hook(self._make_hook(key)))

    def _make_hook(self, key):

        def hook(module, args, output):
            if not self.active:
                return
            value = output if key[1] == 'output' else (
                args[0] if len(args) == 1 else args)
            self.records.setdefault(key, []).append(value)
            if self.stop_early and self._complete():
                raise StopForward

        return hook

    def _complete(self) -> bool:
        return all(
            len(self.records.get(key, ())) >= self.expected_calls[key]
            for key in self.keys)

    def start(self, stop_early: bool = False) -> None:
        self.records = {}
        self.active = True
        self.stop_early = stop_early and self.expected_calls is not None

    def stop(self) -> None:
        self.active = False
        self.stop_early = False

    def count_calls(self) -> None:
        """Remember the number of calls of each hooked module in the forward
        that was just recorded (used to stop later forwards early)."""
        missing = [key for key in self.keys if key not in self.records]
        if missing:
            raise RuntimeError(
                f'The {self.owner} forward never called '
                f'{[k[0] for k in missing]}: these modules are not used in '
                'the forward mmkd runs, so nothing can be recorded there. '
                + self.not_called_hint(missing[0][0]))
        self.expected_calls = {k: len(v) for k, v in self.records.items()}

    def get(self, spec: Union[RecordSpec, SpecGroup]) -> Any:
        if isinstance(spec, SpecGroup):
            return tuple(self.get(s) for s in spec.specs)
        calls = self.records.get(spec.key)
        if calls is None:
            raise RuntimeError(
                f'{self.owner} module {spec.path!r} was not called in this '
                'forward. ' + self.not_called_hint(spec.path))
        value = calls[0] if len(calls) == 1 else list(calls)
        for i in spec.index:
            try:
                value = value[i]
            except (IndexError, TypeError, KeyError) as e:
                raise IndexError(
                    f'Cannot index the {self.owner} record {spec} at [{i}]: '
                    f'it is a {type(value).__name__}'
                    f'{f" of length {len(value)}" if hasattr(value, "__len__") else ""}.'  # noqa: E501
                ) from e
        return value

    def not_called_hint(self, path: str) -> str:
        """Why a module may never be called, and what to record instead."""
        children = self._submodules.get(path)
        if not children:
            return ''
        return (f'If its parent calls `{path}.forward()` (or another method) '
                'directly, as mmdet detectors do with `bbox_head`, forward '
                'hooks on it never fire: record one of its submodules '
                f'instead, e.g. {children}.')

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

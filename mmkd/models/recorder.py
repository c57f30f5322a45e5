"""Record outputs (or inputs) of submodules by dotted path with forward hooks,
and return values of their methods."""
import difflib
import inspect
import re
import types
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn

_SPEC = re.compile(r'^(?P<path>[\w.]*?)(?:\.(?P<method>\w+)\(\)|'
                   r':(?P<source>input|output))?'
                   r'(?P<index>(?:\[-?\d+\])*)$')


class StopForward(Exception):
    """Raised by a recorder hook once everything needed has been recorded."""


@dataclass(frozen=True)
class RecordSpec:
    """What to record: ``'<module path>[:output|:input][i][j]...'``, or
    ``'<module path>.<method>()[i]...'`` for what a method of the module
    returns.

    Examples: ``'neck.out_convs.0'``, ``'neck[2]'`` (third FPN level of the
    neck's tuple output), ``'head:input[0]'``, ``'head[0]'`` (SimCC x logits),
    ``'bbox_head.get_targets()[1]'`` (the labels of a dense head's own label
    assignment, computed in its loss). A list of specs (:class:`SpecGroup`)
    records a tuple, e.g. PointPillars' pillar features with their point
    counts: ``['voxel_encoder', 'voxel_encoder:input[1]']``.

    ``source`` is ``'output'``, ``'input'`` or ``'<method>()'``.
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
                "'<dotted.module.path>[:output|:input][index]...' or "
                "'<dotted.module.path>.<method>()[index]...', e.g. "
                "'neck.out_convs.0', 'head[0]' or "
                "'bbox_head.get_targets()[1]'.")
        index = tuple(int(i) for i in re.findall(r'-?\d+', match['index']))
        source = (f"{match['method']}()" if match['method'] else
                  match['source'] or 'output')
        return cls(match['path'], source, index)

    @property
    def method(self) -> Optional[str]:
        """The recorded method's name, None for a forward output or input."""
        return self.source[:-2] if self.source.endswith('()') else None

    @property
    def key(self) -> Tuple[str, str]:
        return self.path, self.source

    @property
    def keys(self) -> Tuple[Tuple[str, str], ...]:
        return (self.key, )

    def __str__(self) -> str:
        index = ''.join(f'[{i}]' for i in self.index)
        sep = '.' if self.method else ':'
        return f'{self.path or "<model>"}{sep}{self.source}{index}'


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
            if key[1].endswith('()'):
                self._handles.append(_MethodHook(self, module, key))
            else:
                self._handles.append(
                    module.register_forward_hook(self._make_hook(key)))

    def _make_hook(self, key):

        def hook(module, args, output):
            self.record(key, output if key[1] == 'output' else (
                args[0] if len(args) == 1 else args))

        return hook

    def record(self, key: Tuple[str, str], value: Any) -> None:
        """Keep ``value`` as the next call's record of ``key`` (if active)."""
        if not self.active:
            return
        self.records.setdefault(key, []).append(value)
        if self.stop_early and self._complete():
            raise StopForward

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
                f'{[_name(k) for k in missing]}: these modules (methods) are '
                'not used in the forward mmkd runs, so nothing can be '
                'recorded there. ' + self.not_called_hint(*missing[0]))
        self.expected_calls = {k: len(v) for k, v in self.records.items()}

    def get(self, spec: Union[RecordSpec, SpecGroup]) -> Any:
        if isinstance(spec, SpecGroup):
            for s in spec.specs:  # an uncalled method explains the rest
                if s.method and s.key not in self.records:
                    self.get(s)
            return tuple(self.get(s) for s in spec.specs)
        calls = self.records.get(spec.key)
        if calls is None:
            raise RuntimeError(
                f'{self.owner} {"method" if spec.method else "module"} '
                f'{_name(spec.key)!r} was not called in this forward. ' +
                self.not_called_hint(*spec.key))
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

    def not_called_hint(self, path: str, source: str = 'output') -> str:
        """Why a module may never be called, and what to record instead."""
        if source.endswith('()'):
            return (f'A method runs only where the model calls it: e.g. a '
                    "dense head's `get_targets()` only in `mode='loss'`, so "
                    "a student's needs the student's own loss "
                    '(distill.student_gt_loss=True).')
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


def _name(key: Tuple[str, str]) -> str:
    """``'path'`` or ``'path.method()'`` of a record key."""
    return f'{key[0]}.{key[1]}' if key[1].endswith('()') else key[0]


class _MethodHook:
    """Records what a module's method returns: the instance's method is
    replaced by one that calls the class's and records its result, until
    :meth:`remove`. A bound method, so a deep copy of the module (an EMA
    model) calls the copy's own method."""

    def __init__(self, recorder: ModuleRecorder, module: nn.Module,
                 key: Tuple[str, str]) -> None:
        name = key[1][:-2]
        # another recorder's wrapper of the same method: chain it
        self.previous = module.__dict__.get(name)
        func = (self.previous.__func__
                if isinstance(self.previous, types.MethodType) else
                inspect.getattr_static(type(module), name, None))
        if not inspect.isfunction(func):
            methods = [n for n, v in inspect.getmembers(type(module))
                       if inspect.isfunction(v) and not n.startswith('_')]
            close = difflib.get_close_matches(name, methods, n=5, cutoff=0.5)
            raise AttributeError(
                f'{recorder.owner} module {key[0]!r} '
                f'({type(module).__name__}) has no method {name!r}'
                f'{f"; closest: {close}" if close else ""}.')

        def recorded(obj: nn.Module, *args, **kwargs) -> Any:
            value = func(obj, *args, **kwargs)
            recorder.record(key, value)
            return value

        self.module, self.name = module, name
        setattr(module, name, types.MethodType(recorded, module))

    def remove(self) -> None:
        if self.previous is None:
            self.module.__dict__.pop(self.name, None)
        else:
            setattr(self.module, self.name, self.previous)

"""mmkd's imports run one way: from a floor to its own or a lower one
(docs/layout.md). Module-level and function-level imports both count."""
import ast
import os
import os.path as osp
import subprocess
import sys
from typing import Iterator, List, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Lowest first. The package root imports everything (it registers all).
FLOORS = {
    'mmkd.version': 0, 'mmkd.registry': 0, 'mmkd.utils': 0,
    'mmkd.models': 1, 'mmkd.datasets': 1, 'mmkd.converters': 1,
    'mmkd.analysis': 2,
    'mmkd.engine': 3,
    'mmkd': 4,
}


def floor(module: str) -> int:
    """The floor of ``module``: that of its longest prefix in FLOORS."""
    parts = module.split('.')
    for n in range(len(parts), 0, -1):
        prefix = '.'.join(parts[:n])
        if prefix in FLOORS:
            return FLOORS[prefix]
    raise KeyError(f'{module} is on no floor: add its package to FLOORS '
                   '(and to docs/layout.md).')


def module_name(path: str) -> str:
    """``mmkd/models/x.py`` -> ``mmkd.models.x`` (a package's
    ``__init__.py`` -> the package)."""
    name = osp.splitext(osp.relpath(path, REPO))[0].replace(os.sep, '.')
    return name[:-len('.__init__')] if name.endswith('.__init__') else name


def is_module(name: str) -> bool:
    base = osp.join(REPO, *name.split('.'))
    return osp.isfile(base + '.py') or osp.isfile(
        osp.join(base, '__init__.py'))


def imports(source: str, module: str, is_package: bool
            ) -> Iterator[Tuple[int, str, str]]:
    """``(line, imported module, statement)`` of every import of mmkd in
    ``source`` (at any depth), relative imports made absolute; ``from X
    import y`` names ``X.y`` when that is a module."""
    package = module if is_package else module.rpartition('.')[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                parts = parts[:len(parts) - node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            names = [f'{base}.{a.name}' if is_module(f'{base}.{a.name}')
                     else base for a in node.names]
        else:
            continue
        for name in dict.fromkeys(names):
            if name == 'mmkd' or name.startswith('mmkd.'):
                yield node.lineno, name, ast.unparse(node)


def upward_imports() -> List[str]:
    found = []
    for root, _, files in os.walk(osp.join(REPO, 'mmkd')):
        for file in sorted(files):
            if not file.endswith('.py'):
                continue
            path = osp.join(root, file)
            module = module_name(path)
            with open(path) as f:
                source = f.read()
            own = floor(module)
            for line, name, statement in imports(source, module,
                                                 file == '__init__.py'):
                if floor(name) > own:
                    found.append(
                        f'{osp.relpath(path, REPO)}:{line}: `{statement}`: '
                        f'{module} (floor {own}) imports {name} (floor '
                        f'{floor(name)})')
    return found


def test_imports_never_go_up_a_floor():
    found = upward_imports()
    assert not found, ('imports from a higher floor (see docs/layout.md):\n'
                       + '\n'.join(found))


def test_walk_sees_function_level_and_relative_imports():
    source = ('from .recorder import ModuleRecorder\n'
              'def f():\n'
              '    from ..engine import DistillRunner\n'
              '    import mmkd.analysis.doctor_run\n')
    found = list(imports(source, 'mmkd.models.distill_model', False))
    assert [(line, name) for line, name, _ in found] == [
        (1, 'mmkd.models.recorder'), (3, 'mmkd.engine'),
        (4, 'mmkd.analysis.doctor_run')]
    assert found[1][2] == 'from ..engine import DistillRunner'
    assert [floor(n) for _, n, _ in found] == [1, 3, 2]


def test_import_mmkd_works_without_optional_stacks():
    """mmdet3d and mmpretrain are imported only where a config uses them:
    ``import mmkd`` works when neither can be imported, and never imports
    mmdet3d. (mmdet itself tries mmpretrain, for its ReID preprocessor.)"""
    code = (
        'import sys\n'
        'class Hide:\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        "        if name.split('.')[0] in ('mmdet3d', 'mmpretrain'):\n"
        '            raise ModuleNotFoundError(name)\n'
        'hide = Hide()\n'
        'sys.meta_path.insert(0, hide)\n'
        'import mmkd\n'
        'sys.meta_path.remove(hide)\n'
        "print('mmdet3d' in sys.modules, 'mmpretrain' in sys.modules)\n"
        "print(sorted(k for k in sys.modules if k.startswith('mmkd.')))\n")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded, modules = proc.stdout.splitlines()[-2:]
    assert loaded == 'False False'
    assert "'mmkd.engine'" in modules and "'mmkd.models'" in modules
    plain = subprocess.run(
        [sys.executable, '-c', "import sys, mmkd; print('mmdet3d' in "
         'sys.modules)'], capture_output=True, text=True, cwd=REPO)
    assert plain.returncode == 0 and plain.stdout.split()[-1] == 'False'

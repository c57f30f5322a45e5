"""Let mmengine resolve ``mmkd::`` config paths in any script.

mmengine 0.10 only resolves ``pkg::path`` for packages in its hard-coded
``MODULE2PACKAGE`` table, and it parses a config's ``_base_`` before any
``custom_imports`` run, so mmdet's/mmpose's/mmseg's own ``tools/train.py``
cannot read ``_base_ = ['mmkd::distill/x.py']`` by themselves; and with an
editable install mmengine looks for mmkd's configs in site-packages; and
mmpose's ``tools/train.py`` builds a plain Runner whatever the config says.
A one-line ``mmkd_scope_hook.pth`` in site-packages (installed with the
package by ``pip install .`` or ``pip install -e .``, removed by
``pip uninstall mmkd``) runs this file at interpreter start. It adds
``'mmkd'`` to that table the moment ``mmengine.config.utils`` is imported,
finds mmkd where Python imports it from, and routes configs with a
``distill`` key to mmkd's DistillRunner (nothing is imported at start-up;
mmkd itself only when such a config is run). The line finds mmkd without
importing it and does nothing when mmkd is not installed.

This module must not import mmkd or mmengine: it runs at interpreter start.
"""
import importlib.abc
import os.path as osp
import sys

_CONFIG_UTILS = 'mmengine.config.utils'
_PACKAGE_UTILS = 'mmengine.utils.package_utils'


def _register_scope(module) -> None:
    module.MODULE2PACKAGE.setdefault('mmkd', 'mmkd')


def _patch_installed_path(module) -> None:
    """An editable install keeps mmkd in the source tree, not in
    site-packages where ``get_installed_path`` looks: answer from the
    import system for mmkd (without importing it)."""
    original = module.get_installed_path
    if getattr(original, '_mmkd', False):
        return

    def get_installed_path(package: str) -> str:
        if package == 'mmkd':
            import importlib.util
            spec = importlib.util.find_spec('mmkd')
            if spec is not None and spec.origin:
                return osp.dirname(spec.origin)
        return original(package)

    get_installed_path._mmkd = True
    module.get_installed_path = get_installed_path
    for name in ('mmengine.utils', 'mmengine.config.config'):
        if name in sys.modules:
            sys.modules[name].get_installed_path = get_installed_path


def route_distill_configs(module) -> None:
    """Make ``Runner.from_cfg`` build mmkd's DistillRunner for configs with
    a ``distill`` key: mmpose's own ``tools/train.py`` always calls
    ``Runner.from_cfg`` (it ignores ``runner_type``). Configs without
    ``distill`` are untouched. The runner comes from mmkd's registry by
    name: this bottom-floor module never imports ``mmkd.engine``."""
    runner_cls = module.Runner
    original = runner_cls.from_cfg.__func__
    if getattr(original, 'mmkd_route', False):
        return

    def from_cfg(cls, cfg):
        if cls is runner_cls and cfg.get('distill'):
            from mmkd.registry import RUNNERS
            return RUNNERS.get('DistillRunner').from_cfg(cfg)
        return original(cls, cfg)

    from_cfg.mmkd_route = True
    from_cfg.__doc__ = original.__doc__
    runner_cls.from_cfg = classmethod(from_cfg)


def _safe_globals() -> list:
    """:func:`mmkd.utils.safe_load.mmengine_safe_globals`. At interpreter
    start this file runs alone (not as ``mmkd.utils.scope_hook``), so the
    leaf module next to it is read by path, never via ``import mmkd``."""
    if __package__:
        from .safe_load import mmengine_safe_globals
        return mmengine_safe_globals()
    import importlib.util
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'safe_load.py')
    spec = importlib.util.spec_from_file_location('mmkd_safe_load', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mmengine_safe_globals()


def _allow_mmengine_globals(module) -> None:
    """Let ``torch.load(weights_only=True)`` (torch >= 2.6's default, which
    mmengine 0.10.7 uses) read mmengine's own checkpoints, whose message hub
    pickles ``HistoryBuffer`` objects: mmdet's/mmpose's own ``tools/test.py``
    then read what their ``tools/train.py`` wrote. Runs when the second of
    ``torch.serialization`` and mmengine's history buffer is imported."""
    if all(name in sys.modules for name in _SAFE_GLOBALS_MODULES):
        sys.modules['torch.serialization'].add_safe_globals(_safe_globals())


_SAFE_GLOBALS_MODULES = ('torch.serialization',
                         'mmengine.logging.history_buffer')
_PATCHES = {_CONFIG_UTILS: _register_scope,
            _PACKAGE_UTILS: _patch_installed_path,
            'mmengine.runner.runner': route_distill_configs,
            **{name: _allow_mmengine_globals
               for name in _SAFE_GLOBALS_MODULES}}


class _ScopeFinder(importlib.abc.MetaPathFinder):
    """Wraps the loaders of the mmengine modules above to patch them. (A copy
    of this module may run from site-packages and one from mmkd: finders
    are recognised by the ``mmkd_scope_hook`` attribute, not the class.)"""
    mmkd_scope_hook = True

    def find_spec(self, fullname, path, target=None):
        if fullname not in _PATCHES:
            return None
        for finder in sys.meta_path:
            if getattr(finder, 'mmkd_scope_hook', False) or not hasattr(
                    finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                exec_module = spec.loader.exec_module

                def exec_and_patch(module, _exec=exec_module):
                    _exec(module)
                    _PATCHES[module.__name__](module)

                spec.loader.exec_module = exec_and_patch
                return spec
        return None


def activate() -> None:
    for name, patch in _PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    if not all(name in sys.modules for name in _PATCHES) and not any(
            getattr(f, 'mmkd_scope_hook', False) for f in sys.meta_path):
        sys.meta_path.insert(0, _ScopeFinder())


# The one line of ``mmkd_scope_hook.pth``: find mmkd (without importing it)
# and run this file from there; nothing at all when mmkd is not installed.
PTH_LINE = (
    "import importlib.util as u, os.path as o; s = u.find_spec('mmkd'); "
    "p = s and s.origin and o.join(o.dirname(s.origin), 'utils', "
    "'scope_hook.py'); f = p and o.isfile(p) and u.spec_from_file_location("
    "'mmkd_scope_hook', p); m = f and u.module_from_spec(f); "
    "f and (f.loader.exec_module(m), m.activate())\n")


def install(site_dir: str = None) -> str:
    """Write ``mmkd_scope_hook.pth`` into ``site_dir`` (default: the running
    environment's purelib). Only needed where mmkd was put on the path
    without pip, which installs this file itself."""
    import sysconfig
    site_dir = site_dir or sysconfig.get_paths()['purelib']
    pth = osp.join(site_dir, 'mmkd_scope_hook.pth')
    with open(pth, 'w') as f:
        f.write(PTH_LINE)
    return pth

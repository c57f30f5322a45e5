"""Where the configs that an MMRazor config names are read from: the
installed packages (``mmcls::`` from mmpretrain when mmcls is not installed,
renamed configs by their new names, see :mod:`.renames`) and, for
``mmrazor::`` paths, a checkout of MMRazor (``--mmrazor-root``)."""
import importlib.util
import os.path as osp
import re
import tempfile
from typing import Any, Dict, List, NamedTuple, Optional

from mmengine.config import Config

from .common import UnmappableError, to_plain
from .renames import renamed_config

__all__ = ['rescope', 'config_dir', 'config_file', 'Bases', 'ConfigSources']

_MMCLS_TYPE = re.compile(r"""(['"])mmcls(\.|\1)""")  # 'mmcls.X', 'mmcls'
_SCOPED = re.compile(r"""(['"])(mm[a-z0-9]*::[^'"\s]+)\1""")


def rescope(path: str) -> str:
    """``mmcls::`` paths as ``mmpretrain::`` when only mmpretrain (the
    successor of mmcls 1.x, same config tree) is installed."""
    if not path.startswith('mmcls::'):
        return path
    if importlib.util.find_spec('mmcls') is None and \
            importlib.util.find_spec('mmpretrain') is not None:
        return 'mmpretrain::' + path[len('mmcls::'):]
    return path


def config_dir(scope: str) -> Optional[str]:
    """The config directory (``.mim/configs``) of installed package
    ``scope``, or None."""
    try:
        spec = importlib.util.find_spec(scope)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = osp.join(osp.dirname(spec.origin), '.mim', 'configs')
    return path if osp.isdir(path) else None


def config_file(name: str) -> Optional[str]:
    """The file of package config ``name`` (``pkg::rel/path.py``) in the
    installed package's ``.mim/configs``, or None (not installed, no such
    file)."""
    scope, _, rel = name.partition('::')
    root = config_dir(scope)
    path = osp.join(root, rel) if root else None
    return path if path and osp.isfile(path) else None


class Bases(NamedTuple):
    """A student config's bases as the mmkd config can name them.

    Attributes:
        bases (list[str]): The ``_base_`` to write: package configs and local
            files that load as they are.
        settings (dict): What the inlined files (``mmrazor::`` configs, local
            files naming renamed or ``mmcls::`` configs) add to those bases,
            top-level keys to write after them.
        cfg (Config): The config that the original bases give.
        written (Config): The config that ``bases`` alone give.
    """
    bases: List[str]
    settings: Dict[str, Any]
    cfg: Config
    written: Config


class ConfigSources:
    """Reads MMRazor configs and the configs they name with the installed
    packages, rewriting the names those lack.

    A file is read as it is unless it (or a file among its ``_base_``) names
    a config the packages spell differently; then a rewritten copy is read
    from a temporary directory: ``mmcls::`` paths and ``'mmcls.`` types as
    mmpretrain's (only mmpretrain installed), renamed configs
    (:data:`~.renames.RENAMED_CONFIGS`) by their new names, ``mmrazor::``
    bases and relative bases as absolute paths of their (rewritten) files.

    Args:
        mmrazor_root (str, optional): A checkout or snapshot of MMRazor;
            ``mmrazor::x.py`` is ``<mmrazor_root>/configs/x.py``.

    Attributes:
        renamed (dict[str, str]): The renamed configs met, old -> new name.
        inlined (list[str]): The ``mmrazor::`` configs read from the root.
    """

    def __init__(self, mmrazor_root: Optional[str] = None) -> None:
        self.mmrazor_root = mmrazor_root
        self.renamed: Dict[str, str] = {}
        self.inlined: List[str] = []

    # ------------------------------------------------------------- names
    def package_name(self, name: str) -> str:
        """Package config ``name`` as the installed packages have it
        (``mmrazor::`` names and file paths are returned unchanged).

        Raises:
            UnmappableError: Neither installed nor in the renames table.
        """
        new = rescope(name)
        if '::' not in name or name.startswith('mmrazor::') or \
                config_file(new):
            return new
        renamed = renamed_config(name)
        if renamed and config_file(renamed):
            self.renamed[name] = renamed
            return renamed
        scope = new.partition('::')[0]
        where = 'has no such config' if config_dir(scope) else \
            'is not installed'
        raise UnmappableError([
            f'the config {name}: {scope} {where}, and mmkd\'s table of '
            'renamed configs (mmkd/converters/mmrazor/renames.py) has no '
            'new name for it.'])

    def mmrazor_file(self, name: str) -> str:
        """The file of ``mmrazor::`` config ``name`` under the root.

        Raises:
            UnmappableError: No root given, or no such file in it.
        """
        if not self.mmrazor_root:
            raise UnmappableError([
                f'the config {name} is MMRazor\'s own: pass --mmrazor-root '
                'DIR, a checkout of MMRazor (its configs/ are read).'])
        path = osp.join(self.mmrazor_root, 'configs', name.split('::', 1)[1])
        if not osp.isfile(path):
            raise UnmappableError([f'the config {name}: {path} does not '
                                   'exist (--mmrazor-root).'])
        if name not in self.inlined:
            self.inlined.append(name)
        return path

    # ----------------------------------------------------------- loading
    def load(self, path: str) -> Config:
        """The config at ``path``, names rewritten where needed."""
        with tempfile.TemporaryDirectory() as tmp:
            return Config.fromfile(self._copy(osp.abspath(path), tmp, {}))

    def load_bases(self, bases: List[str]) -> Config:
        """The config that ``_base_ = bases`` gives (scoped names or
        absolute paths), names rewritten where needed."""
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'bases.py')
            with open(path, 'w') as f:
                f.write(f'_base_ = {bases!r}\n')
            return Config.fromfile(self._copy(path, tmp, {}))

    def portable(self, bases: List[str]) -> Bases:
        """``bases`` (scoped names or absolute paths) as bases that load
        without MMRazor and without rewriting: ``mmrazor::`` configs, files
        under the MMRazor root and local files that need rewriting are
        replaced by their own bases (recursively, inlining all local files
        below them) and the settings they add.

        Raises:
            UnmappableError: A config cannot be found.
        """
        flat: List[str] = []
        with tempfile.TemporaryDirectory() as tmp:
            done: Dict[str, str] = {}

            def visit(base: str, parent: Optional[str]) -> None:
                if base.startswith('mmrazor::'):
                    path = self.mmrazor_file(base)
                elif '::' in base:
                    flat.append(self.package_name(base))
                    return
                else:  # parent: the directory of an inlined file
                    path = osp.normpath(osp.join(parent or '', base))
                    if parent is None and not self._in_root(path) and \
                            self._copy(path, tmp, done) == path:
                        flat.append(path)
                        return
                for sub in Config._get_base_files(path):
                    visit(sub, osp.dirname(path))

            for base in bases:
                visit(base, None)
        cfg = self.load_bases(bases)
        if flat == [self.package_name(b) if '::' in b else b for b in bases]:
            return Bases(flat, {}, cfg, cfg)
        written = self.load_bases(flat)
        settings = {}
        for key, value in cfg.items():
            value, base = to_plain(value), to_plain(written.get(key))
            if key in written and value == base:
                continue
            if isinstance(value, dict) and isinstance(base, dict):
                value = dict(_delete_=True, **value)
            settings[key] = value
        return Bases(flat, settings, cfg, written)

    def _in_root(self, path: str) -> bool:
        if not self.mmrazor_root:
            return False
        root = osp.join(osp.abspath(self.mmrazor_root), '')
        return osp.abspath(path).startswith(root)

    def _copy(self, path: str, tmp: str, done: Dict[str, str]) -> str:
        """``path`` itself, or a copy under ``tmp`` with the names the
        packages spell differently rewritten (when it or one of its bases
        needs that)."""
        if path in done:
            return done[path]
        with open(path) as f:
            text = f.read()
        targets, needed = {}, False
        for base in Config._get_base_files(path):
            if base.startswith('mmrazor::'):
                targets[base] = self._copy(self.mmrazor_file(base), tmp, done)
                needed = True
            elif '::' in base:
                targets[base] = self.package_name(base)
                needed |= targets[base] != base
            else:  # made absolute in a copy, which lies elsewhere
                local = osp.normpath(osp.join(osp.dirname(path), base))
                targets[base] = self._copy(local, tmp, done)
                needed |= targets[base] != local
        new = _SCOPED.sub(self._literal, text)
        if rescope('mmcls::x') != 'mmcls::x':
            new = _MMCLS_TYPE.sub(r'\1mmpretrain\2',
                                  new.replace('mmcls::', 'mmpretrain::'))
        if not needed and new == text:
            done[path] = path
            return path
        for base, target in targets.items():
            for q in '\'"':
                new = new.replace(f'{q}{base}{q}', repr(target))
        out = osp.join(tempfile.mkdtemp(dir=tmp), osp.basename(path))
        with open(out, 'w') as f:
            f.write(new)
        done[path] = out
        return out

    def _literal(self, match: re.Match) -> str:
        """A quoted package config name in a file's text: its new name when
        the packages renamed it (bases are checked by ``package_name``)."""
        name = match.group(2)
        renamed = renamed_config(name)
        if renamed and not config_file(rescope(name)) and \
                config_file(renamed):
            self.renamed[name] = renamed
            return repr(renamed)
        return match.group(0)

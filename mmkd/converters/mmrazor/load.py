"""Loading MMRazor configs and the student configs they name, reading
``mmcls::`` paths from mmpretrain when mmcls is not installed."""
import importlib.util
import os
import os.path as osp
import tempfile
from typing import List, Optional

from mmengine.config import Config

from .common import UnmappableError

__all__ = [
    'rescope', 'abs_bases', 'load_bases', 'load_razor_config',
    'zoo_checkpoint'
]


def rescope(path: str) -> str:
    """``mmcls::`` paths as ``mmpretrain::`` when only mmpretrain (the
    successor of mmcls 1.x, same config tree) is installed."""
    if not path.startswith('mmcls::'):
        return path
    if importlib.util.find_spec('mmcls') is None and \
            importlib.util.find_spec('mmpretrain') is not None:
        return 'mmpretrain::' + path[len('mmcls::'):]
    return path


def abs_bases(cfg_file: str) -> List[str]:
    """The ``_base_`` entries of ``cfg_file`` as written, relative paths
    made absolute."""
    bases = Config._get_base_files(cfg_file)
    root = osp.dirname(osp.abspath(cfg_file))
    return [rescope(b) if '::' in b else osp.normpath(osp.join(root, b))
            for b in bases]


def load_bases(bases: List[str]) -> Config:
    """The config that ``_base_ = bases`` gives."""
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'bases.py')
        with open(path, 'w') as f:
            f.write(f'_base_ = {bases!r}\n')
        return Config.fromfile(path)


def _load(path: str) -> Config:
    with open(path) as f:
        text = f.read()
    if 'mmcls::' in text and rescope('mmcls::x') != 'mmcls::x':
        with tempfile.NamedTemporaryFile(
                'w', suffix='.py', dir=osp.dirname(osp.abspath(path)),
                delete=False) as f:
            f.write(text.replace('mmcls::', 'mmpretrain::'))
        try:
            return Config.fromfile(f.name)
        finally:
            os.remove(f.name)
    return Config.fromfile(path)


def load_razor_config(path: str) -> Config:
    """Load the MMRazor config at ``path``.

    Raises:
        UnmappableError: It cannot be loaded (a missing file or package).
    """
    try:
        return _load(path)
    except (OSError, ImportError, SyntaxError) as e:
        raise UnmappableError([
            f'{path} cannot be loaded ({type(e).__name__}: {e}); the '
            'packages its _base_ names must be installed (mmcls:: paths '
            'are read from mmpretrain when mmcls is not installed).'])


def zoo_checkpoint(cfg_path: str) -> Optional[str]:
    """The checkpoint that ``pretrained=True`` loads for ``cfg_path``
    (mmengine.hub's lookup in the package's metafiles), or None."""
    try:
        from mmengine.hub import get_config
        return get_config(cfg_path, pretrained=True).get('model_path')
    except Exception:  # noqa: BLE001  (not in a metafile, not installed)
        return None

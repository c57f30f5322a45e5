"""Loading MMRazor configs and the student configs they name, reading
``mmcls::`` paths and ``mmcls.`` types from mmpretrain when mmcls is not
installed, renamed configs by their new names and ``mmrazor::`` paths from
a checkout of MMRazor (all in :class:`~.sources.ConfigSources`)."""
import os.path as osp
from typing import List, Optional

from mmengine.config import Config

from .common import UnmappableError
from .sources import ConfigSources, rescope

__all__ = [
    'rescope', 'abs_bases', 'load_bases', 'load_razor_config',
    'zoo_checkpoint'
]


def abs_bases(cfg_file: str) -> List[str]:
    """The ``_base_`` entries of ``cfg_file`` as written, relative paths
    made absolute."""
    bases = Config._get_base_files(cfg_file)
    root = osp.dirname(osp.abspath(cfg_file))
    return [rescope(b) if '::' in b else osp.normpath(osp.join(root, b))
            for b in bases]


def load_bases(bases: List[str]) -> Config:
    """The config that ``_base_ = bases`` gives."""
    return ConfigSources().load_bases(bases)


def load_razor_config(path: str,
                      sources: Optional[ConfigSources] = None) -> Config:
    """Load the MMRazor config at ``path`` (through ``sources``, by default
    the installed packages only).

    Raises:
        UnmappableError: It cannot be loaded (a missing file or package).
    """
    try:
        return (sources or ConfigSources()).load(path)
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

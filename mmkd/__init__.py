from .version import __version__
from . import models  # noqa: F401  (registers losses, connectors, wrapper)

__all__ = ['__version__']

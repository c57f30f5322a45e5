"""mmkd: knowledge distillation for OpenMMLab configs."""
from .version import __version__
from .utils import activate_scope_hook

activate_scope_hook()  # `mmkd::` configs resolve once mmkd is imported
from . import engine, models  # noqa: F401,E402  (registers everything)
from .engine import *  # noqa: F401,F403,E402
from .models import *  # noqa: F401,F403,E402

__all__ = ['__version__'] + engine.__all__ + models.__all__

"""mmkd's registries: children of mmengine's, so scope ``mmkd`` (or the
``mmkd.`` prefix from any other scope) finds everything registered here."""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmkd',
                  locations=['mmkd.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS,
                          scope='mmkd', locations=['mmkd.models'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmkd',
                 locations=['mmkd.engine'])
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope='mmkd',
                   locations=['mmkd.engine'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='mmkd',
                    locations=['mmkd.datasets'])

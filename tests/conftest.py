import os
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def mini_data(tmp_path_factory):
    """A tiny generated data set; configs find it through MMKD_DATA_ROOT."""
    from mmkd.datasets import generate_mini_data
    root = str(tmp_path_factory.mktemp('mini'))
    generate_mini_data(root, seed=0, num_train=8, num_val=4, img_size=160)
    os.environ['MMKD_DATA_ROOT'] = root
    yield root


@pytest.fixture(autouse=True)
def keep_data_root():
    """``tools/zoo.py``'s main sets $MMKD_DATA_ROOT for the process: put it
    back after each test so that later tests find their data."""
    saved = os.environ.get('MMKD_DATA_ROOT')
    yield
    if saved is None:
        os.environ.pop('MMKD_DATA_ROOT', None)
    else:
        os.environ['MMKD_DATA_ROOT'] = saved


@pytest.fixture(autouse=True, scope='session')
def one_logger_per_runner():
    """mmengine names a runner's logger and message hub after the second it
    was built in, so two runners built in the same second share them: the
    second one logs into the first one's file and inherits its logged
    losses. Tests build many runners a second; each gets its own name."""
    import itertools

    from mmengine.runner import Runner
    count = itertools.count()
    init = Runner.__init__

    def unique_init(self, *args, experiment_name=None, **kwargs):
        if experiment_name is None:
            experiment_name = f'test{next(count)}'
        init(self, *args, experiment_name=experiment_name, **kwargs)

    Runner.__init__ = unique_init
    yield
    Runner.__init__ = init

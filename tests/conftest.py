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

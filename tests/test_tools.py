"""mmkd's tools/train.py and tools/test.py take scoped config paths on the
command line, as `mim train` does."""
import argparse
import os.path as osp
import sys

import pytest

from conftest import REPO

sys.path.insert(0, osp.join(REPO, 'tools'))
from train import load_config  # noqa: E402


def args(config: str, **kw) -> argparse.Namespace:
    return argparse.Namespace(config=config, launcher='none',
                              cfg_options=None, work_dir=None, **kw)


@pytest.mark.parametrize('config, model_type, work_dir', [
    ('mmkd::dfine/dino_fdr_golsd.py', 'DFineDINO', 'dino_fdr_golsd'),
    ('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py', 'RTMDet',
     'rtmdet_tiny_8xb32-300e_coco'),
    (osp.join(REPO, 'configs/mini/det/rtmdet_student.py'), 'RTMDet',
     'rtmdet_student'),
])
def test_scoped_config_paths(config, model_type, work_dir):
    cfg = load_config(args(config))
    assert cfg.model.type.split('.')[-1] == model_type
    assert cfg.work_dir == osp.join('./work_dirs', work_dir)


def test_missing_scoped_config_names_it():
    with pytest.raises(FileNotFoundError, match='mmkd::nope/none.py'):
        load_config(args('mmkd::nope/none.py'))

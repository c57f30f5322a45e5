"""The FPN recipes (configs/distill/cwd_fpn.py, fgd_fpn.py, mgd_fpn.py) on a
real mmdet detector with five FPN levels, through DistillRunner: one loss
per level, each recorder on its level, channels filled in from the recorded
maps (a wider teacher neck), the batch's boxes reaching FGD, MGD's generator
trained."""
import math
import os.path as osp

import pytest
import torch

from conftest import REPO
from test_ld_loss import GFL_MINI

pytest.importorskip('mmdet')


@pytest.fixture
def gfl_pair(mini_data, tmp_path):
    """The LD test's small GFL as student (neck 32 channels) and the same
    with a 64-channel neck as teacher (random weights)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    student = tmp_path / 'gfl_student.py'
    student.write_text(GFL_MINI.format(
        mini_base=osp.join(REPO, 'configs/_base_/datasets/mini_det.py')))
    teacher = tmp_path / 'gfl_teacher.py'
    teacher.write_text(
        f'_base_ = [{str(student)!r}]\n'
        'model = dict(neck=dict(out_channels=64), '
        'bbox_head=dict(in_channels=64, feat_channels=64))\n')
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(teacher)).model)
    model.init_weights()
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=model.state_dict()), str(ckpt))
    return student, teacher, ckpt


@pytest.mark.parametrize('recipe', ['cwd_fpn', 'fgd_fpn', 'mgd_fpn'])
def test_fpn_recipe_on_five_levels(recipe, gfl_pair, tmp_path):
    from mmengine.config import Config

    from mmkd import DistillRunner
    student, teacher, ckpt = gfl_pair
    kd = tmp_path / 'kd.py'
    kd.write_text(
        f"_base_ = [{str(student)!r}, 'mmkd::distill/{recipe}.py']\n"
        f'distill = dict(diagnose=False, teacher=dict(config='
        f'{str(teacher)!r}, checkpoint={str(ckpt)!r}))\n')
    cfg = Config.fromfile(str(kd))
    cfg.work_dir = str(tmp_path / 'work')
    runner = DistillRunner.from_cfg(cfg)
    runner.train()
    model = runner.model
    optimized = {id(p) for group in runner.optim_wrapper.optimizer.param_groups
                 for p in group['params']}
    names = [f'{recipe}{i}' for i in range(5)]
    assert sorted(model.distill_losses) == names
    scalars = runner.message_hub.log_scalars
    for i, name in enumerate(names):
        spec = cfg.distill.losses[name]
        assert spec.student == spec.teacher == f'neck[{i}]'
        value = scalars[f'train/distill.loss_{name}'].current()
        if recipe == 'cwd_fpn' and i == 4:
            # stride 128 on the 128 px images: a 1x1 map, a softmax over
            # one position, KL 0
            assert value == 0
        else:
            assert math.isfinite(value) and value > 0, name
        if recipe == 'cwd_fpn':  # a learned 1x1 map from 32 to 64 channels
            conv = model.connectors[name].layers[0]
            assert (conv.in_channels, conv.out_channels) == (32, 64)
            assert model.distill_losses[name].tau == 1.0
            assert model.distill_losses[name].loss_weight == 10.0
        elif recipe == 'mgd_fpn':  # aligns itself, learns its generator
            loss = model.distill_losses[name]
            assert name not in model.connectors
            assert (loss.align.in_channels, loss.align.out_channels) == \
                (32, 64)
            assert (loss.alpha_mgd, loss.lambda_mgd) == (2e-5, 0.65)
            generator = list(loss.generation.parameters())
            assert len(generator) == 4
            assert {id(p) for p in generator} <= optimized
        else:  # FGD aligns itself and reads the GT boxes
            loss = model.distill_losses[name]
            assert name not in model.connectors
            assert (loss.align.in_channels, loss.align.out_channels) == \
                (32, 64)
            assert name in model.wants_data_samples
            assert (loss.temp, loss.alpha_fgd, loss.beta_fgd,
                    loss.gamma_fgd, loss.lambda_fgd) == \
                (0.5, 1e-3, 5e-4, 5e-4, 5e-6)

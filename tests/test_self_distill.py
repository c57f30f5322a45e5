"""DistillModel's self-distillation mode (``self_distill=True``): no
teacher is built, the ``teacher`` specs record the student itself in the
same forward, detached, and misconfigurations fail with a clear message."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from conftest import REPO
from mmkd.datasets import generate_mini_cls
from mmkd.models import DistillModel

pytest.importorskip('mmpretrain')
STUDENT = osp.join(REPO, 'configs/mini/cls/resnet18_cifar_student.py')


@pytest.fixture(scope='module')
def batch(mini_data):
    from mmengine.runner import Runner
    generate_mini_cls(osp.join(mini_data, 'cls'), num_train=8, num_val=4)
    cfg = Config.fromfile(STUDENT)
    loader = dict(cfg.train_dataloader, batch_size=4)
    loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return next(iter(Runner.build_dataloader(loader, seed=0)))


def _model(**kwargs) -> DistillModel:
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        torch.manual_seed(0)
        return DistillModel(student=Config.fromfile(STUDENT).model, **kwargs)


def test_teacher_specs_record_the_student_detached(batch):
    """The target is the student's own record of this forward, without a
    gradient path; the student side keeps its path; a None spec gives the
    loss None. No teacher is built and the student's keys are unchanged."""
    model = _model(self_distill=True, losses=dict(
        own=dict(type='MSELoss', student='backbone[0]',
                 teacher='backbone[0]', loss_weight=1.0)))
    model.setup(batch)
    assert model.teacher is None and model.is_setup
    model.train()
    data = model.module.data_preprocessor(batch, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert 'loss_student' in losses  # the GT loss is kept
    raw, student, target = model.loss_inputs('own')
    assert student.requires_grad and not target.requires_grad
    assert torch.equal(student.detach(), target)
    # the same map on both sides: the MSE of a map to itself
    assert float(losses['distill.loss_own']) == 0.0
    plain = _model()
    assert set(model.state_dict()) == set(plain.module.state_dict())


def test_self_distill_needs_no_teacher_and_takes_none(batch):
    with pytest.raises(ValueError, match='self_distill=True'):
        _model(losses=dict(own=dict(type='MSELoss', student='backbone[0]',
                                    teacher='backbone[0]')))
    with pytest.raises(ValueError, match='takes no teacher'):
        _model(self_distill=True, teacher=dict(config='t.py'),
               losses=dict(own=dict(type='MSELoss', student='backbone[0]',
                                    teacher='backbone[0]')))
    with pytest.raises(KeyError, match='No module'):
        _model(self_distill=True, losses=dict(own=dict(
            type='MSELoss', student='backbone[0]', teacher='backbone.nope')))

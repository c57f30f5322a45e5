"""DWPose two-stage distillation (issue 3).

- mmkd's stage-1 and stage-2 losses equal mmpose 1.3.2's DWPoseDistiller /
  FeaLoss / KDLoss on the same weights and batch (and so do the gradients);
- mmpose's teacher BatchNorm returns to train mode under ``model.train()``
  (its running stats drift, and in stage 2 they are the exported backbone's);
  mmkd's teacher and frozen backbone stay in eval mode;
- ``1 - epoch / max_epochs`` is applied per epoch (the real hook in a Runner);
- stage 2 writes a plain RTMPose checkpoint: no missing/unexpected keys for
  the plain student config, backbone identical to the stage-1 checkpoint's;
- 2-iteration Runner runs of the stage-1, stage-2, RTMDet and mmseg head
  self-KD recipes, each mixed with an unchanged model config.
"""
import os
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip('mmcv.ops')
pytest.importorskip('mmpose')

from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.registry import RUNNERS, init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from torch.nn.modules.batchnorm import _BatchNorm  # noqa: E402

# The loss modules register themselves on import (also when the package's
# losses/__init__.py does not list them yet).
import mmkd.models.losses.dense_reg_kd_loss  # noqa: E402,F401
import mmkd.models.losses.dwpose_feature_loss  # noqa: E402,F401
import mmkd.models.losses.sigmoid_kl_loss  # noqa: E402,F401
import mmkd.models.losses.simcc_logit_loss  # noqa: E402,F401
from mmkd.datasets import generate_mini_data  # noqa: E402
from mmkd.engine import LinearDecayWeight  # noqa: E402
from mmkd.models import DistillModel  # noqa: E402
from mmkd.models.losses.dwpose_feature_loss import DWPoseFeatureLoss  # noqa
from mmkd.models.losses.simcc_logit_loss import SimCCLogitLoss  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def cfg_path(*parts):
    return osp.join(REPO, 'configs', *parts)


TEACHER_CFG = cfg_path('mini', 'pose', 'rtmpose_teacher.py')
STUDENT_CFG = cfg_path('mini', 'pose', 'rtmpose_student.py')
STAGE1 = cfg_path('distill', 'dwpose_stage1.py')
STAGE2 = cfg_path('distill', 'dwpose_stage2.py')
DET_CFG = cfg_path('mini', 'det', 'rtmdet_student.py')
SEG_CFG = cfg_path('mini', 'seg', 'pspnet_r18_student.py')
RTMDET_KD = cfg_path('distill', 'head_self_kd_rtmdet.py')
SEG_KD = cfg_path('distill', 'head_self_kd_seg.py')
LOGIT = ('logit_x', 'logit_y')
TOL = dict(rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope='module', autouse=True)
def fast_config_text():
    """The Runner logs and dumps its config through yapf (~2 s a call on
    these machines); the formatting is not under test."""
    mp = pytest.MonkeyPatch()
    mp.setattr(Config, 'pretty_text', property(lambda self: '\n'.join(
        f'{k} = {v!r}' for k, v in self._cfg_dict.to_dict().items())))
    yield
    mp.undo()


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mini'))
    generate_mini_data(root, num_train=8, num_val=4, num_pose_train=8,
                       num_pose_val=4)
    old = os.environ.get('MMKD_DATA_ROOT')
    os.environ['MMKD_DATA_ROOT'] = root
    yield root
    if old is None:
        os.environ.pop('MMKD_DATA_ROOT')
    else:
        os.environ['MMKD_DATA_ROOT'] = old


def build_model(path, scope):
    init_default_scope(scope)
    cfg = Config.fromfile(path)
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def save_trained_like(model, path, seed):
    """Random weights with non-trivial BN statistics, saved as a checkpoint
    (a stand-in for a trained model)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        model.train()
        for _ in range(2):
            size = (2, 3, 128, 96) if scope_of(model) == 'mmpose' else (
                2, 3, 128, 128)
            model._forward(torch.randn(size) * 2 + 0.5)
    model.eval()
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


def scope_of(model):
    return type(model).__module__.split('.')[0]


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory, data_root):
    d = tmp_path_factory.mktemp('ckpt')
    return SimpleNamespace(
        teacher=save_trained_like(
            build_model(TEACHER_CFG, 'mmpose'), str(d / 'teacher.pth'), 1),
        stage1=save_trained_like(
            build_model(STUDENT_CFG, 'mmpose'), str(d / 'stage1.pth'), 2))


@pytest.fixture(scope='module')
def batch(data_root):
    init_default_scope('mmpose')
    cfg = Config.fromfile(STUDENT_CFG)
    loader = dict(cfg.train_dataloader, batch_size=4)
    loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    return next(iter(Runner.build_dataloader(loader, seed=0)))


def set_epoch(epoch, max_epochs):
    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', epoch)
    hub.update_info('max_epochs', max_epochs)
    return hub


def mmpose_distiller(two_dis, teacher_cfg, teacher_ckpt, methods):
    from mmpose.registry import MODELS as POSE_MODELS
    init_default_scope('mmpose')
    student = Config.fromfile(STUDENT_CFG)
    model = POSE_MODELS.build(ConfigDict(
        type='DWPoseDistiller',
        two_dis=two_dis,
        teacher_cfg=teacher_cfg,
        student_cfg=STUDENT_CFG,
        teacher_pretrained=teacher_ckpt,
        distill_cfg=[dict(methods=[m]) for m in methods],
        data_preprocessor=student.model.data_preprocessor))
    model.init_weights()
    return model


def mmkd_model(recipe, teacher_cfg, teacher_ckpt, **extra):
    init_default_scope('mmpose')
    distill = Config.fromfile(recipe).distill
    kwargs = dict(losses=distill.losses,
                  student_gt_loss=distill.student_gt_loss)
    for key in ('freeze', 'student_init'):
        if key in distill:
            kwargs[key] = distill[key]
    kwargs.update(extra)
    return DistillModel(
        student=Config.fromfile(STUDENT_CFG).model,
        teacher=dict(config=teacher_cfg, checkpoint=teacher_ckpt), **kwargs)


def stage1_pair(ckpts, batch):
    mm = mmpose_distiller(False, TEACHER_CFG, ckpts.teacher, [
        dict(type='FeaLoss', name='loss_fea', use_this=True,
             student_channels=384, teacher_channels=512, alpha_fea=7e-5),
        dict(type='KDLoss', name='loss_logit', use_this=True, weight=0.1)
    ])
    kd = mmkd_model(STAGE1, TEACHER_CFG, ckpts.teacher)
    kd.module.load_state_dict(mm.student.state_dict())
    kd.setup(batch)
    kd.distill_losses['fea'].align.load_state_dict(
        mm.distill_losses['loss_fea'].align.state_dict())
    return mm, kd


def stage2_pair(ckpts, batch):
    mm = mmpose_distiller(True, STUDENT_CFG, ckpts.stage1, [
        dict(type='KDLoss', name='loss_logit', use_this=True, weight=1)
    ])
    kd = mmkd_model(STAGE2, STUDENT_CFG, ckpts.stage1, student_init=dict(
        Config.fromfile(STAGE2).distill.student_init,
        checkpoint=ckpts.stage1))
    kd.init_weights()
    kd.load_student_init()
    kd.setup(batch)
    mm.student.head.load_state_dict(kd.module.head.state_dict())
    return mm, kd


@pytest.fixture(scope='module')
def stage1_models(ckpts, batch):
    return stage1_pair(ckpts, batch)


@pytest.fixture(scope='module')
def stage2_models(ckpts, batch):
    return stage2_pair(ckpts, batch)


def grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters()
            if p.grad is not None}


# ------------------------------------------------------------ unit: losses
def test_losses_equal_mmpose_modules():
    from mmpose.models.losses import FeaLoss, KDLoss
    torch.manual_seed(0)
    fea = FeaLoss('loss_fea', True, student_channels=8, teacher_channels=16)
    ours = DWPoseFeatureLoss(student_channels=8, teacher_channels=16)
    ours.align.load_state_dict(fea.align.state_dict())
    s, t = torch.randn(3, 8, 4, 3), torch.randn(3, 16, 4, 3)
    torch.testing.assert_close(ours(s, t), fea(s, t), **TOL)
    # equal channels: no align conv in either
    assert DWPoseFeatureLoss(16, 16).align is None
    torch.testing.assert_close(
        DWPoseFeatureLoss(16, 16)(t * 0.5, t),
        FeaLoss('f', True, 16, 16)(t * 0.5, t), **TOL)

    sx, sy = torch.randn(3, 17, 192) * 2, torch.randn(3, 17, 256) * 2
    tx, ty = torch.randn(3, 17, 192) * 2, torch.randn(3, 17, 256) * 2
    weights = torch.zeros(3, 17)  # KDLoss ignores visibility: all distilled
    ref = KDLoss('loss_logit', True, weight=0.1)((sx, sy), (tx, ty), 10.,
                                                 weights)
    loss = SimCCLogitLoss(beta=10., loss_weight=0.1)
    torch.testing.assert_close(loss((sx, sy), (tx, ty)), ref, **TOL)
    torch.testing.assert_close(loss(sx, tx) + loss(sy, ty), ref, **TOL)
    assert loss((tx, ty), (tx, ty)).abs() < 1e-6


def test_head_self_kd_losses():
    import torch.nn.functional as F
    from mmkd.models.losses.dense_reg_kd_loss import DenseRegKDLoss
    from mmkd.models.losses.sigmoid_kl_loss import SigmoidKLLoss
    torch.manual_seed(0)
    levels = [torch.randn(2, 3, 8, 8), torch.randn(2, 3, 4, 4)]
    teacher = [torch.randn_like(x) for x in levels]
    student = [x.clone().requires_grad_() for x in levels]
    kl = SigmoidKLLoss()
    assert kl(teacher, teacher).abs() < 1e-6
    loss = kl(student, teacher)
    # per-class binary KL, summed over classes, mean over all positions
    p_t = torch.cat([t.sigmoid().permute(0, 2, 3, 1).reshape(-1, 3)
                     for t in teacher])
    p_s = torch.cat([s.sigmoid().permute(0, 2, 3, 1).reshape(-1, 3)
                     for s in student])
    ref = (p_t * (p_t / p_s).log() +
           (1 - p_t) * ((1 - p_t) / (1 - p_s)).log()).sum(1).mean()
    torch.testing.assert_close(loss, ref, **TOL)
    # its gradient is BCE's with the teacher's probabilities as targets
    loss.backward()
    s0 = levels[0].clone().requires_grad_()
    n = sum(x.numel() // 3 for x in levels)
    (F.binary_cross_entropy_with_logits(
        s0, teacher[0].sigmoid(), reduction='sum') / n).backward()
    torch.testing.assert_close(student[0].grad, s0.grad, **TOL)

    reg_t = [torch.rand(2, 4, 8, 8) * 5, torch.rand(2, 4, 4, 4) * 5]
    reg_s = [x + 0.5 for x in reg_t]
    l1 = DenseRegKDLoss()
    torch.testing.assert_close(l1(reg_s, reg_t), torch.tensor(2.0))  # 4 x .5
    weighted = DenseRegKDLoss(confidence_weighted=True)
    reg_s[0][:, :, :4] += 10  # far off where the teacher sees nothing
    cls = [torch.full((2, 3, 8, 8), 8.), torch.full((2, 3, 4, 4), 8.)]
    cls[0][:, :, :4] = -30
    torch.testing.assert_close(weighted(reg_s, (reg_t, cls)),
                               torch.tensor(2.0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match='pair'):
        weighted(reg_s, reg_t[0])


# ------------------------------------------------ stage 1 / stage 2 vs mmpose
def test_stage1_equals_mmpose_dwpose_distiller(stage1_models, batch):
    mm, kd = stage1_models
    epoch, max_epochs = 3, 10
    hub = set_epoch(epoch, max_epochs)
    # mmkd's factor comes from its real schedule hook
    LinearDecayWeight(losses=['fea', *LOGIT]).before_train_epoch(
        SimpleNamespace(model=kd, message_hub=hub, epoch=epoch,
                        max_epochs=max_epochs))
    assert kd.loss_factors == {'fea': 0.7, 'logit_x': 0.7, 'logit_y': 0.7}

    mm.train()
    mm.teacher.eval()  # see test_teacher_batchnorm_mode: mmpose forgets it
    kd.train()
    data = kd.module.data_preprocessor(batch, True)
    ref = mm.loss(data['inputs'], data['data_samples'])
    out = kd.loss(data['inputs'], data['data_samples'])

    assert set(out) == {'loss_kpt', 'acc_pose', 'distill.loss_fea',
                        'distill.loss_logit_x', 'distill.loss_logit_y'}
    torch.testing.assert_close(out['loss_kpt'], ref['loss_kpt'], **TOL)
    torch.testing.assert_close(out['distill.loss_fea'], ref['loss_fea'],
                               **TOL)
    torch.testing.assert_close(
        out['distill.loss_logit_x'] + out['distill.loss_logit_y'],
        ref['loss_logit'], **TOL)
    assert ref['loss_fea'] > 0 and ref['loss_logit'] > 0

    # ... and so are the gradients of the total loss
    sum(v for k, v in ref.items() if 'loss' in k).backward()
    sum(v for k, v in out.items() if 'loss' in k).backward()
    g_ref, g_out = grads(mm.student), grads(kd.module)
    assert g_ref.keys() == g_out.keys() and g_ref
    for name in g_ref:
        torch.testing.assert_close(g_out[name], g_ref[name], rtol=1e-4,
                                   atol=1e-6)
    torch.testing.assert_close(
        kd.distill_losses['fea'].align.weight.grad,
        mm.distill_losses['loss_fea'].align.weight.grad, rtol=1e-4, atol=1e-6)


def test_stage2_equals_mmpose_dwpose_distiller(stage2_models, batch):
    mm, kd = stage2_models
    set_epoch(5, 10)  # stage 2 has no decay
    mm.train()
    mm.teacher.eval()
    kd.train()
    data = kd.module.data_preprocessor(batch, True)
    ref = mm.loss(data['inputs'], data['data_samples'])
    out = kd.loss(data['inputs'], data['data_samples'])
    # logit loss only: no GT loss in either
    assert set(ref) == {'loss_logit'}
    assert set(out) == {'distill.loss_logit_x', 'distill.loss_logit_y'}
    total = out['distill.loss_logit_x'] + out['distill.loss_logit_y']
    torch.testing.assert_close(total, ref['loss_logit'], **TOL)
    assert ref['loss_logit'] > 0

    ref['loss_logit'].backward()
    total.backward()
    g_ref, g_out = grads(mm.student), grads(kd.module)
    assert set(g_out) == set(g_ref) and all(
        n.startswith('head.') for n in g_out)  # the backbone is frozen
    for name in g_ref:
        torch.testing.assert_close(g_out[name], g_ref[name], rtol=1e-4,
                                   atol=1e-6)


def test_teacher_batchnorm_mode(ckpts, batch, stage1_models, stage2_models):
    """mmpose's DWPoseDistiller sets its teacher to eval only once, in
    __init__: ``model.train()`` (which the Runner calls) puts the teacher's
    BatchNorm back into train mode, so the teacher normalises with batch
    statistics and its running statistics drift, although it is frozen. In
    stage 2 those drifting statistics are the exported backbone's
    (pth_transfer takes ``teacher.backbone``). mmkd keeps the teacher and the
    frozen student parts in eval mode."""
    set_epoch(0, 10)
    mm, kd = stage1_models
    mm.train()
    kd.train()
    bn = lambda m: [x for x in m.modules() if isinstance(x, _BatchNorm)]
    assert mm.teacher.training and all(x.training for x in bn(mm.teacher))
    assert not any(m.training for m in kd.teacher.modules())
    assert kd.module.training  # the student itself trains

    data = kd.module.data_preprocessor(batch, True)
    before = {k: v.clone() for k, v in mm.teacher.state_dict().items()}
    mm.loss(data['inputs'], data['data_samples'])
    drifted = [k for k, v in mm.teacher.state_dict().items()
               if k.endswith('running_mean') and not torch.equal(v, before[k])]
    assert drifted  # the frozen teacher's statistics moved
    before = {k: v.clone() for k, v in kd.teacher.state_dict().items()}
    kd.loss(data['inputs'], data['data_samples'])
    for k, v in kd.teacher.state_dict().items():
        assert torch.equal(v, before[k]), k

    # stage 2: the backbone that ends up in the final checkpoint
    mm2, kd2 = stage2_models
    mm2.train()
    kd2.train()
    assert not any(m.training for m in kd2.module.backbone.modules())
    assert kd2.module.head.training
    stage1 = torch.load(ckpts.stage1, map_location='cpu')['state_dict']
    mm2.loss(data['inputs'], data['data_samples'])
    kd2.loss(data['inputs'], data['data_samples'])
    mm_backbone = mm2.teacher.backbone.state_dict()
    assert any(not torch.equal(v, stage1['backbone.' + k])
               for k, v in mm_backbone.items())
    for k, v in kd2.module.backbone.state_dict().items():
        assert torch.equal(v, stage1['backbone.' + k]), k


# ------------------------------------------------------------ Runner runs
class FactorLog(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.factors = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.factors.append(dict(runner.model.loss_factors))


def run_user_config(tmp_path, name, bases, body, hooks=()):
    """Write a user config that mixes a model config with a recipe (as a
    user would) and train it with the Runner of its ``runner_type``.
    The det/seg configs keep their own samplers (mmdet's
    AspectRatioBatchSampler, mmseg's InfiniteSampler): the shape probe must
    not disturb them (exactly 2 iterations below)."""
    path = tmp_path / f'{name}.py'
    path.write_text(f'_base_ = {list(bases)!r}\n'
                    f'work_dir = {str(tmp_path / name)!r}\n' + body)
    cfg = Config.fromfile(str(path))
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)
    for hook in hooks:
        runner.register_hook(hook)
    runner.train()
    return runner


def logged(runner, key):
    """Every value logged under ``key`` in this run (numpy array)."""
    return runner.message_hub.get_scalar(key).data[0]


def assert_plain_checkpoint(ckpt_path, model_cfg, scope):
    """The checkpoint loads into the plain model config with no missing or
    unexpected keys; returns its state dict."""
    plain = build_model(model_cfg, scope)
    state = torch.load(ckpt_path, map_location='cpu')['state_dict']
    result = plain.load_state_dict(state, strict=False)
    assert not result.missing_keys and not result.unexpected_keys, result
    return state


NO_VAL = """
val_dataloader = None
val_cfg = None
val_evaluator = None
"""
POSE_SMALL = NO_VAL + """
train_dataloader = dict(batch_size=2, dataset=dict(indices=4))
default_hooks = dict(checkpoint=dict(interval=1, save_best=None))
"""


def test_stage1_runner_decay_per_epoch(tmp_path, data_root, ckpts):
    """Stage 1 through the Runner (2 epochs x 2 iterations): the weight is
    1 - epoch/max_epochs, constant within an epoch."""
    log = FactorLog()
    runner = run_user_config(
        tmp_path, 'stage1', [STUDENT_CFG, STAGE1], POSE_SMALL + f"""
distill = dict(teacher=dict(config={TEACHER_CFG!r},
                            checkpoint={ckpts.teacher!r}))
train_cfg = dict(max_epochs=2, val_interval=10)
""", hooks=[log])
    assert [f['fea'] for f in log.factors] == [1.0, 1.0, 0.5, 0.5]
    assert all(f['fea'] == f['logit_x'] == f['logit_y'] for f in log.factors)
    for key in ('loss_kpt', 'distill.loss_fea', 'distill.loss_logit_x',
                'distill.loss_logit_y'):
        assert np.isfinite(logged(runner, f'train/{key}')).all()
    assert list(logged(runner, 'train/distill.w_fea')) == [1, .5]
    assert_plain_checkpoint(
        osp.join(runner.work_dir, 'epoch_2.pth'), STUDENT_CFG, 'mmpose')


def test_stage2_runner_plain_checkpoint(tmp_path, data_root, ckpts):
    runner = run_user_config(
        tmp_path, 'stage2', [STUDENT_CFG, STAGE2], POSE_SMALL + f"""
distill = dict(teacher=dict(config={STUDENT_CFG!r},
                            checkpoint={ckpts.stage1!r}),
               student_init=dict(checkpoint={ckpts.stage1!r}))
train_cfg = dict(max_epochs=1, val_interval=10)
""")
    assert runner.iter == 2
    assert 'train/loss_kpt' not in runner.message_hub.log_scalars
    state = assert_plain_checkpoint(
        osp.join(runner.work_dir, 'epoch_1.pth'), STUDENT_CFG, 'mmpose')
    stage1 = torch.load(ckpts.stage1, map_location='cpu')['state_dict']
    backbone = [k for k in stage1 if k.startswith('backbone.')]
    assert backbone and all(torch.equal(state[k], stage1[k])
                            for k in backbone)  # BN statistics included
    head = [k for k in stage1 if k.startswith('head.')]
    assert any(not torch.equal(state[k], stage1[k]) for k in head)


@pytest.fixture(scope='module')
def det_ckpt(tmp_path_factory, data_root):
    return save_trained_like(
        build_model(DET_CFG, 'mmdet'),
        str(tmp_path_factory.mktemp('det') / 'rtmdet.pth'), 3)


def test_rtmdet_head_self_kd_runner(tmp_path, data_root, det_ckpt):
    runner = run_user_config(
        tmp_path, 'rtmdet_kd', [DET_CFG, RTMDET_KD], NO_VAL + f"""
distill = dict(teacher=dict(config={DET_CFG!r}, checkpoint={det_ckpt!r}),
               student_init=dict(checkpoint={det_ckpt!r}))
train_dataloader = dict(batch_size=2, dataset=dict(indices=4))
train_cfg = dict(max_epochs=1, val_interval=10)
""")
    assert runner.iter == 2
    scalars = runner.message_hub.log_scalars
    names = [f'distill.loss_{k}{i}' for k in ('cls', 'reg') for i in range(3)]
    for name in names:
        assert np.isfinite(logged(runner, f'train/{name}')).all()
    assert not any(k.startswith('train/loss_') for k in scalars)  # no GT loss
    state = assert_plain_checkpoint(
        osp.join(runner.work_dir, 'epoch_1.pth'), DET_CFG, 'mmdet')
    trained = torch.load(det_ckpt, map_location='cpu')['state_dict']
    for k in trained:
        if k.startswith(('backbone.', 'neck.')):
            assert torch.equal(state[k], trained[k]), k
    assert any(not torch.equal(state[k], trained[k]) for k in trained
               if k.startswith('bbox_head.'))


def test_seg_head_self_kd_runner(tmp_path, data_root):
    ckpt = save_trained_like(build_model(SEG_CFG, 'mmseg'),
                             str(tmp_path / 'pspnet.pth'), 4)
    runner = run_user_config(
        tmp_path, 'seg_kd', [SEG_CFG, SEG_KD], NO_VAL + f"""
distill = dict(teacher=dict(config={SEG_CFG!r}, checkpoint={ckpt!r}),
               student_init=dict(checkpoint={ckpt!r}))
train_dataloader = dict(batch_size=2)
train_cfg = dict(max_iters=2, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=2))
""")
    assert runner.iter == 2
    assert np.isfinite(logged(runner, 'train/distill.loss_seg')).all()
    assert 'train/decode.loss_ce' not in runner.message_hub.log_scalars
    state = assert_plain_checkpoint(
        osp.join(runner.work_dir, 'iter_2.pth'), SEG_CFG, 'mmseg')
    trained = torch.load(ckpt, map_location='cpu')['state_dict']
    for k in trained:
        if k.startswith('backbone.'):
            assert torch.equal(state[k], trained[k]), k
    assert any(not torch.equal(state[k], trained[k]) for k in trained
               if k.startswith('decode_head.'))

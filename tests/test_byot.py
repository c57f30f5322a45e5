"""BYOT (Be Your Own Teacher): exits on the mini classifier's first three
stages taught by its own head. The loss against the official code's
formula by hand on the real model's outputs (values and gradients), the
Runner's checkpoint (the plain student's, the exits under
``distill_state``) and resume, DDP on 2 CPU processes, the KD doctor's rows
and MMRazor's byot_resnet18 config converted and trained."""
import copy
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO
from mmkd import DistillModel
from mmkd.analysis import diagnose
from mmkd.datasets import generate_mini_cls
from mmkd.models.teacher import load_config

pytest.importorskip('mmpretrain')
sys.path.insert(0, osp.join(REPO, 'tools'))
from train import build_runner  # noqa: E402

STUDENT = osp.join(REPO, 'configs/mini/cls/resnet18_cifar_student.py')
STAGES = (1, 2, 3)
NAMES = [f'byot_stage{i}' for i in STAGES]


@pytest.fixture(scope='module')
def cls_data(mini_data):
    """16 training and 8 validation images under $MMKD_DATA_ROOT/cls."""
    return generate_mini_cls(osp.join(mini_data, 'cls'), num_train=16,
                             num_val=8)


def byot_cfg(work_dir, extra: str = '') -> Config:
    """The mini student with the BYOT recipe: 2 iterations of 8 images, no
    augmentation, no shuffling."""
    path = work_dir / 'byot.py'
    work_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(f"_base_ = [{STUDENT!r}, 'mmkd::distill/cls_byot.py']\n"
                    + extra)
    cfg = load_config(str(path), 'train')
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.update(max_epochs=1, val_interval=100)
    cfg.train_dataloader.batch_size = 8
    cfg.train_dataloader.dataset.pipeline = \
        cfg.val_dataloader.dataset.pipeline
    cfg.train_dataloader.sampler.shuffle = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    return cfg


class ExitsAtStart(Hook):
    """Keeps the exits as set up, before the first iteration."""

    def before_train(self, runner) -> None:
        self.state = copy.deepcopy(runner.model.connectors.state_dict())


@pytest.fixture(scope='module')
def trained(cls_data, tmp_path_factory):
    """The recipe trained 2 iterations through the Runner."""
    runner = build_runner(byot_cfg(tmp_path_factory.mktemp('byot')))
    hook = ExitsAtStart()
    runner.register_hook(hook)
    runner.train()
    assert runner.iter == 2
    return runner, hook.state


def plain_student() -> torch.nn.Module:
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(Config.fromfile(STUDENT).model)


def stage_maps(student, inputs):
    """The four stage outputs, the pooled deepest feature and the logits,
    through the student's modules one by one."""
    b = student.backbone
    x = b.relu(b.norm1(b.conv1(inputs)))
    maps = []
    for name in b.res_layers:
        x = getattr(b, name)(x)
        maps.append(x)
    feature = student.neck((maps[-1], ))[-1]
    return maps, feature, student.head.fc(feature)


def official_byot(f_i, q_i, f_c, q_c, labels, tau=3.0, alpha=0.1,
                  beta=1e-6, dist=False):
    """One exit's terms of the official train.py: (1 - alpha) CE,
    alpha T^2 kd_loss_function (soft cross-entropy), beta
    feature_loss_function (masked sum of squares); MMRazor's L2 distance
    with ``dist``."""
    ce = F.cross_entropy(q_i, labels)
    target = torch.softmax(q_c / tau, dim=1).detach()
    kd = -torch.mean(torch.sum(torch.log_softmax(q_i / tau, dim=1) * target,
                               dim=1)) * tau**2
    f_c = f_c.detach()
    if dist:
        feat = torch.sqrt(((f_i - f_c)**2).sum())
    else:
        feat = torch.abs((f_i - f_c)**2 * ((f_i > 0) | (f_c > 0)).float()
                         ).sum()
    return (1 - alpha) * ce + alpha * kd + beta * feat


def batch_of(runner):
    return next(iter(runner.train_dataloader))


def test_recipe_config():
    cfg = Config.fromfile(osp.join(
        REPO, 'configs/zoo/resnet18_cifar_student_quarter_byot.py'))
    assert cfg.runner_type == 'mmkd.DistillRunner'
    assert cfg.distill.self_distill is True and 'teacher' not in cfg.distill
    assert cfg.model.head.loss == dict(type='CrossEntropyLoss',
                                       loss_weight=0.9)
    assert cfg.model.backbone.base_channels == 4
    assert cfg.model.backbone.out_indices == (3, )  # unchanged
    losses = cfg.distill.losses
    assert sorted(losses) == NAMES
    for i in STAGES:
        loss = losses[f'byot_stage{i}']
        assert loss.student == f'backbone.layer{i}'
        assert loss.teacher == ['neck[-1]', 'head.fc']
        assert loss.connector == dict(type='BYOTExit', stride=2**(4 - i))
        assert (loss.tau, loss.alpha, loss.beta) == (3.0, 0.1, 1e-6)


def test_loss_is_the_official_formula(trained):
    """Each exit's loss and the gradients of their sum (on the student and
    the exits) equal the official formula by hand on the same model."""
    runner, _ = trained
    model = runner.model
    model.train()
    exits = model.connectors
    assert [type(exits[n]).__name__ for n in NAMES] == ['BYOTExit'] * 3
    # channels and classes from the probed records; the official strides
    assert [(e.bottleneck[0].in_channels, e.bottleneck[6].out_channels,
             e.bottleneck[3].stride, e.fc.out_features)
            for e in (exits[n] for n in NAMES)] == [
                (4, 32, (8, 8), 8), (8, 32, (4, 4), 8), (16, 32, (2, 2), 8)]
    data = model.module.data_preprocessor(batch_of(runner), True)
    labels = torch.cat([d.gt_label for d in data['data_samples']])
    params = [p for part in (model.module, exits) for p in part.parameters()]

    losses = model.loss(data['inputs'], data['data_samples'])
    values = [losses[f'distill.loss_{n}'] for n in NAMES]
    grads = torch.autograd.grad(sum(values), params, allow_unused=True)

    maps, f_c, q_c = stage_maps(model.module, data['inputs'])
    assert f_c.shape == (8, 32) and q_c.shape == (8, 8)
    expected = []
    for i, name in zip(STAGES, NAMES):
        f_i, q_i = exits[name](maps[i - 1])
        expected.append(official_byot(f_i, q_i, f_c, q_c, labels))
    by_hand = torch.autograd.grad(sum(expected), params, allow_unused=True)
    for value, hand in zip(values, expected):
        assert float(value) == pytest.approx(float(hand), rel=1e-5)
    assert all(float(v) > 0 for v in values)
    fc = {id(p) for p in model.module.head.fc.parameters()}
    for p, g, h in zip(params, grads, by_hand):
        if id(p) in fc:  # the deepest classifier is the detached target
            assert g is None and h is None
            continue
        torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-7)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    # the student's own loss is the head's cross-entropy
    assert float(losses['loss_student']) == pytest.approx(
        float(F.cross_entropy(q_c, labels)), rel=1e-5)


def test_checkpoint_plain_student_and_resume(trained, tmp_path):
    """The checkpoint is the plain student's (strict load); the exits are
    under distill_state, trained (they left their set-up values) and
    restored by resume."""
    runner, start = trained
    ckpt_path = osp.join(runner.work_dir, 'epoch_1.pth')
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=True)
    student = plain_student()
    result = student.load_state_dict(ckpt['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    state = ckpt['distill_state']
    assert f'connectors.{NAMES[0]}.bottleneck.0.weight' in state
    exit_keys = {k for k in state if k.startswith('connectors.')}
    assert exit_keys == {f'connectors.{k}' for k in
                         runner.model.connectors.state_dict()}
    assert not any(k.startswith('connectors') for k in ckpt['state_dict'])
    moved = [k for k, v in start.items() if v.is_floating_point()
             and not torch.equal(v, state[f'connectors.{k}'])]
    assert f'{NAMES[0]}.fc.weight' in moved  # optimised

    cfg = byot_cfg(tmp_path / 'resume')
    cfg.update(resume=True, load_from=ckpt_path)
    resumed = build_runner(cfg)
    resumed.train()  # already at max_epochs: only set-up and resume
    assert resumed.epoch == 1
    for key, value in resumed.model.connectors.state_dict().items():
        assert torch.equal(value, state[f'connectors.{key}']), key


def test_kd_doctor_reads_the_byot_rows(trained):
    runner, _ = trained
    model = runner.model
    batch = batch_of(runner)
    diagnosis = diagnose(model, batch)
    rows = {d.name: d for d in diagnosis.losses}
    assert sorted(rows) == NAMES
    model.train()
    data = model.module.data_preprocessor(batch, True)
    with torch.no_grad():
        losses = model.loss(data['inputs'], data['data_samples'])
    for i, name in zip(STAGES, NAMES):
        row = rows[name]
        assert row.type == 'BYOTLoss'
        assert row.value == pytest.approx(
            float(losses[f'distill.loss_{name}']), rel=1e-4)
        assert row.grad_norm > 0 and row.reached > 0
        assert row.student.shape == (8, 4 * 2**(i - 1), 32 // 2**(i - 1),
                                     32 // 2**(i - 1))
        assert row.connector.shape == (8, 32)  # the exit's feature
        assert row.teacher.shape == (8, 32)  # the deepest feature
        assert row.teacher_spec == '(neck:output[-1], head.fc:output)'
    assert 'distill.loss_byot_stage2' in diagnosis.report()


def test_ddp_two_processes(cls_data, tmp_path):
    """torchrun, 2 CPU processes (gloo): the exits are wrapped with the
    student and saved under distill_state."""
    from test_ddp import train
    path = tmp_path / 'byot_ddp.py'
    path.write_text(
        f"_base_ = [{STUDENT!r}, 'mmkd::distill/cls_byot.py']\n"
        'train_dataloader = dict(batch_size=4, dataset=dict(indices=8))\n'
        'train_cfg = dict(max_epochs=1, val_interval=100)\n'
        'default_hooks = dict(logger=dict(interval=1), '
        'checkpoint=dict(interval=1))\n'
        'distill = dict(diagnose=False)\n'
        'env_cfg = dict(dist_cfg=dict(timeout=60))\n')
    work = tmp_path / 'work'
    code, log = train(str(path), work, 2)
    assert code == 0, log[-4000:]
    assert 'wraps the student and 3 connectors on each of 2' in log
    assert 'distill.loss_byot_stage3' in log
    ckpt = torch.load(str(work / 'epoch_1.pth'), map_location='cpu',
                      weights_only=True)
    plain_student().load_state_dict(ckpt['state_dict'], strict=True)
    assert f'connectors.{NAMES[2]}.fc.weight' in ckpt['distill_state']


# ------------------------------------------------------ MMRazor's config
def razor_byot(tmp_path) -> str:
    """MMRazor's configs/distill/mmcls/byot/byot_resnet18_8xb16_cifar100.py
    on the mini student (base channels 4, 8 classes; the connectors'
    channels to match) and the mini data (its _base_)."""
    stages = {1: 4, 2: 8, 3: 16}
    recorders = ', '.join(
        f"bb_s{i}=dict(type='ModuleOutputs', "
        f"source='backbone.layer{i}.1.relu')" for i in stages)
    losses = ', '.join(
        f"loss_fet_{i}=dict(type='L2Loss', normalize=False, "
        f"loss_weight={0.03 if i < 3 else 0.}, dist=True), "
        f"loss_label_{i}=dict(type='mmcls.CrossEntropyLoss', "
        "loss_weight=0.7), "
        f"loss_softl_{i}=dict(type='KLDivergence', tau=3, loss_weight=0.3)"
        for i in stages)
    connectors = ', '.join(
        f"loss_s{i}_sfeat=dict(type='BYOTConnector', in_channel={c}, "
        'out_channel=32, expansion=1, kernel_size=3, stride=2, '
        'num_classes=8)' for i, c in stages.items())

    def item(recorder, student=True, **kw):
        extra = ''.join(f', {k}={v!r}' for k, v in kw.items())
        return (f"dict(recorder={recorder!r}, from_student={student}"
                f'{extra})')

    mappings = ', '.join(
        f'loss_fet_{i}=dict(s_feature='
        + item(f'bb_s{i}', connector=f'loss_s{i}_sfeat', connector_idx=0)
        + ", t_feature=" + item('neck_gap', False) + '), '
        f'loss_label_{i}=dict(cls_score='
        + item(f'bb_s{i}', connector=f'loss_s{i}_sfeat', connector_idx=1)
        + ', label=' + item('gt_labels', False, data_idx=1) + '), '
        f'loss_softl_{i}=dict(preds_S='
        + item(f'bb_s{i}', connector=f'loss_s{i}_sfeat', connector_idx=1)
        + ', preds_T=' + item('fc', False) + ')' for i in stages)
    path = tmp_path / 'byot_resnet18_8xb16_cifar100.py'
    path.write_text(f"""_base_ = [{STUDENT!r}]
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0005))
param_scheduler = dict(
    _delete_=True, type='MultiStepLR', by_epoch=True,
    milestones=[80, 160, 240], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=250, val_interval=1)
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='SelfDistill',
    data_preprocessor=dict(
        type='ImgDataPreprocessor', mean=[127.5, 127.5, 127.5],
        std=[64.0, 64.0, 64.0], bgr_to_rgb=True),
    architecture=dict(
        type='mmcls.ImageClassifier',
        backbone=dict(
            type='mmcls.ResNet_CIFAR', depth=18, num_stages=4,
            out_indices=(3, ), style='pytorch', stem_channels=4,
            base_channels=4),
        neck=dict(type='mmcls.GlobalAveragePooling'),
        head=dict(
            type='mmcls.LinearClsHead', num_classes=8, in_channels=32,
            loss=dict(type='mmcls.CrossEntropyLoss', loss_weight=1.0))),
    distiller=dict(
        type='BYOTDistiller',
        student_recorders=dict({recorders}),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc'),
            neck_gap=dict(type='ModuleOutputs', source='neck.gap'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        distill_losses=dict({losses}),
        connectors=dict({connectors}),
        loss_forward_mappings=dict({mappings})))
find_unused_parameters = True
val_cfg = dict(_delete_=True, type='mmrazor.SelfDistillValLoop')
""")
    return str(path)


def test_mmrazor_byot_config_converts_and_trains(cls_data, tmp_path):
    from convert_mmrazor_config import main as convert_config
    out = str(tmp_path / 'mmkd_byot.py')
    assert convert_config([razor_byot(tmp_path), '-o', out]) == 0
    cfg = Config.fromfile(out)
    assert cfg.runner_type == 'mmkd.DistillRunner'
    assert cfg.val_cfg.type == 'ValLoop'
    assert 'find_unused_parameters' not in cfg
    assert cfg.model.type == 'mmpretrain.ImageClassifier'
    assert cfg.model.data_preprocessor == dict(
        type='mmpretrain.ClsDataPreprocessor', mean=[127.5] * 3,
        std=[64.0] * 3, to_rgb=True)
    assert cfg.distill.self_distill is True and 'teacher' not in cfg.distill
    channels = {1: 4, 2: 8, 3: 16}
    assert cfg.distill.losses.to_dict() == {
        f'byot_s{i}_sfeat': dict(
            type='BYOTLoss', student=f'backbone.layer{i}.1.relu[0]',
            teacher=['neck.gap', 'head.fc'],
            connector=dict(type='BYOTExit', in_channels=c, out_channels=32,
                           num_classes=8, stride=32 // c),
            tau=3, alpha=0.3, beta=0.03 if i < 3 else 0.0,
            feature_dist=True, loss_weight=1.0)
        for i, c in channels.items()}

    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.update(max_epochs=1, val_interval=100)
    cfg.train_dataloader.update(batch_size=4)
    cfg.train_dataloader.dataset.indices = 8
    cfg.train_dataloader.dataset.pipeline = \
        cfg.val_dataloader.dataset.pipeline
    cfg.train_dataloader.sampler.shuffle = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.distill.diagnose = False
    runner = build_runner(cfg)
    assert isinstance(runner.model, DistillModel)
    runner.train()
    assert runner.iter == 2

    # the losses are MMRazor's weights on BYOT's terms, the exit on the
    # first ReLU call of each stage's last block
    model = runner.model
    model.train()
    data = model.module.data_preprocessor(batch_of(runner), True)
    labels = torch.cat([d.gt_label for d in data['data_samples']])
    with torch.no_grad():
        losses = model.loss(data['inputs'], data['data_samples'])
        maps, f_c, q_c = stage_maps(model.module, data['inputs'])
        b = model.module.backbone
        stage_inputs = [b.relu(b.norm1(b.conv1(data['inputs'])))] + maps
        for i in channels:
            first, last = getattr(b, f'layer{i}')
            x = first(stage_inputs[i - 1])
            first_relu = last.relu(last.norm1(last.conv1(x)))
            f_i, q_i = model.connectors[f'byot_s{i}_sfeat'](first_relu)
            expected = official_byot(f_i, q_i, f_c, q_c, labels, alpha=0.3,
                                     beta=0.03 if i < 3 else 0.0, dist=True)
            assert float(losses[f'distill.loss_byot_s{i}_sfeat']) == \
                pytest.approx(float(expected), rel=1e-5)


def test_mmrazor_self_distill_other_than_byot_is_refused(cls_data, tmp_path,
                                                         capsys):
    """Another distiller under SelfDistill, or a BYOT term mmkd computes
    differently, is named; nothing is written."""
    from convert_mmrazor_config import main as convert_config
    text = open(razor_byot(tmp_path)).read()
    bad = tmp_path / 'bad.py'
    bad.write_text(text.replace("type='BYOTDistiller'",
                                "type='ConfigurableDistiller'"))
    out = tmp_path / 'out.py'
    assert convert_config([str(bad), '-o', str(out)]) == 1
    assert "'ConfigurableDistiller' under SelfDistill" in \
        capsys.readouterr().err
    assert not out.exists()
    bad.write_text(text.replace("type='KLDivergence', tau=3",
                                "type='KLDivergence', tau=3, "
                                "reduction='sum'"))
    assert convert_config([str(bad), '-o', str(out)]) == 1
    err = capsys.readouterr().err
    assert "loss_softl_1 (KLDivergence): ['reduction']" in err
    assert 'connectors.loss_s1_sfeat: BYOT needs' in err  # its KL missing
    assert not out.exists()

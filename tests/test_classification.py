"""Classification KD with mmpretrain: the generated data set in
mmpretrain's CustomDataset format, the teacher's top-level data
preprocessor, the recipes' loss values on real ImageClassifiers, and
mmpretrain's own tools/train.py and tools/test.py on a KD config."""
import copy
import hashlib
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO
from mmkd.datasets import CLS_CLASSES, generate_mini_cls
from mmkd.models.teacher import build_teacher, load_config

pytest.importorskip('mmpretrain')
sys.path.insert(0, osp.join(REPO, 'tools'))
from train import build_runner  # noqa: E402

TEACHER = osp.join(REPO, 'configs/mini/cls/resnet18_cifar_teacher.py')
STUDENT = osp.join(REPO, 'configs/mini/cls/resnet18_cifar_student.py')
RECIPES = {name: f'mmkd::distill/cls_{name}.py'
           for name in ('kd', 'dkd', 'dist', 'fitnet')}


@pytest.fixture(scope='module')
def cls_data(mini_data):
    """32 training and 16 validation images under $MMKD_DATA_ROOT/cls."""
    return generate_mini_cls(osp.join(mini_data, 'cls'), num_train=32,
                             num_val=16)


@pytest.fixture(scope='module')
def teacher_ckpt(cls_data, tmp_path_factory):
    """The mini teacher's weights (freshly initialised: these tests are about
    what the recipes compute, not about teaching)."""
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp('cls_teacher') / 'teacher.pth')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(TEACHER).model)
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def _md5(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


# ------------------------------------------------------------------- data
def test_mini_cls_read_by_mmpretrain(cls_data, tmp_path):
    from mmpretrain.datasets import CustomDataset
    root = cls_data['root']
    cfg = load_config(TEACHER).train_dataloader.dataset.to_dict()
    cfg.pop('type')
    cfg['pipeline'] = [dict(type='LoadImageFromFile')]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = CustomDataset(**cfg)
        assert osp.realpath(dataset.data_root) == osp.realpath(root)
        assert len(dataset) == 32
        assert dataset.CLASSES == CLS_CLASSES
        for i in (0, 5, 13):
            item = dataset[i]
            assert item['gt_label'] == i % 8
            assert CLS_CLASSES[i % 8] in item['img_path']
            assert item['img'].shape == (32, 32, 3)
        # the folder format reads the same images (classes sorted by name)
        folders = CustomDataset(data_root=root, data_prefix='val',
                                pipeline=[])
        assert len(folders) == 16
        assert folders.CLASSES == tuple(sorted(CLS_CLASSES))
    # deterministic, and a bigger set starts with the smaller one's images
    again = generate_mini_cls(str(tmp_path / 'again'), num_train=40,
                              num_val=0)
    first = 'train/circle/circle_000000.png'
    assert _md5(osp.join(root, first)) == _md5(
        osp.join(again['root'], first))
    assert generate_mini_cls(root, num_train=32, num_val=16)['skipped']
    with pytest.raises(ValueError, match='img_size'):
        generate_mini_cls(str(tmp_path / 'bad'), img_size=8)


def test_make_mini_data_draws_the_classification_set(tmp_path, capsys):
    from make_mini_data import main as make_mini_data
    root = str(tmp_path / 'mini')
    make_mini_data([root, '--num-train', '2', '--num-val', '1',
                    '--cls-train', '16', '--cls-val', '8'])
    assert 'classes   :' in capsys.readouterr().out
    with open(osp.join(root, 'cls', 'meta', 'val.txt')) as f:
        lines = f.read().splitlines()
    assert len(lines) == 8
    assert lines[3] == 'val/square_frame/square_frame_000003.png 3'
    assert osp.isfile(osp.join(root, 'cls', lines[3].split()[0]))


def test_teacher_gets_the_config_top_level_preprocessor(teacher_ckpt):
    """mmpretrain configs set the normalisation at the top level; the
    teacher must use it as mmengine's Runner does for the student."""
    teacher = build_teacher(TEACHER, teacher_ckpt)
    pre = teacher.data_preprocessor
    assert pre.mean.flatten().tolist() == [127.5] * 3
    assert pre.std.flatten().tolist() == [64.0] * 3
    assert pre.to_rgb


# ---------------------------------------------------------------- recipes
def _kl(s, t, tau=1.0):
    """tau^2 KL(softmax(t / tau) || softmax(s / tau)), mean over samples."""
    p = F.softmax(t / tau, 1)
    return tau**2 * (p * (p.log() - F.log_softmax(s / tau, 1))).sum(1).mean()


def _dkd(s, t, labels, tau=1.0, alpha=1.0, beta=0.5):
    """DKD by hand: TCKD on [p_target, 1 - p_target], NCKD on the non-target
    classes renormalised (Zhao et al., 2022)."""
    ps, pt = F.softmax(s / tau, 1), F.softmax(t / tau, 1)
    gt = F.one_hot(labels, s.shape[1]).bool()
    bs = torch.stack([ps[gt], 1 - ps[gt]], 1)
    bt = torch.stack([pt[gt], 1 - pt[gt]], 1)
    tckd = (bt * (bt.log() - bs.log())).sum(1).mean() * tau**2
    qs = F.softmax(s[~gt].view(len(s), -1) / tau, 1)
    qt = F.softmax(t[~gt].view(len(t), -1) / tau, 1)
    nckd = (qt * (qt.log() - qs.log())).sum(1).mean() * tau**2
    return alpha * tckd + beta * nckd


def _dist(s, t):
    """DIST by hand: 1 - Pearson correlation of the probabilities across
    classes (inter) and across the batch (intra), tau 1."""
    def pearson(a, b):
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-8)
    ps, pt = F.softmax(s, 1), F.softmax(t, 1)
    return (1 - pearson(ps, pt)).mean() + (1 - pearson(ps.T, pt.T)).mean()


class FirstIter(Hook):
    """Computes the expected losses by hand just before the first iteration
    (after the Runner initialised the weights) and keeps that iteration's
    log variables."""

    def __init__(self, expect):
        self.expect = expect
        self.expected = self.outputs = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.expected is None:
            self.expected = self.expect(runner.model, data_batch)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if self.outputs is None:
            self.outputs = {k: float(v) for k, v in outputs.items()}


def _kd_cfg(recipe: str, ckpt: str, work_dir: str) -> Config:
    path = osp.join(work_dir, 'kd.py')
    os.makedirs(work_dir, exist_ok=True)
    with open(path, 'w') as f:
        f.write(f'_base_ = [{STUDENT!r}, {recipe!r}]\n'
                f'distill = dict(teacher=dict(config={TEACHER!r}, '
                f'checkpoint={ckpt!r}))\n')
    cfg = load_config(path, 'train')
    cfg.work_dir = work_dir
    cfg.train_cfg.update(max_epochs=1, val_interval=100)
    # one deterministic batch of 8 first: no augmentation, no shuffling
    cfg.train_dataloader.batch_size = 8
    cfg.train_dataloader.dataset.pipeline = \
        cfg.val_dataloader.dataset.pipeline
    cfg.train_dataloader.sampler.shuffle = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    return cfg


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe_losses_equal_hand_computation(name, teacher_ckpt, tmp_path):
    """Each recipe trains a real ImageClassifier student through the Runner;
    the distillation loss of its first iteration equals the published
    formula computed by hand on the two models' logits (and features)."""
    runner = build_runner(_kd_cfg(RECIPES[name], teacher_ckpt,
                                  str(tmp_path / 'work')))
    shapes = {}

    def expect(model, batch):
        model.setup(batch)  # the teacher and connectors (as training does)
        data = model.module.data_preprocessor(batch, True)
        labels = torch.cat([d.gt_label for d in data['data_samples']])
        assert labels.tolist() == [i % 8 for i in range(8)]
        student = copy.deepcopy(model.module).train()  # BN as in training
        teacher = model.teacher
        t_in = teacher.data_preprocessor(batch, False)['inputs']
        with torch.no_grad():
            s_feat = student.backbone(data['inputs'])[-1]
            s = student.head.fc(student.neck((s_feat, ))[-1])
            t_feat = teacher.backbone(t_in)[-1]
            t = teacher.head.fc(teacher.neck((t_feat, ))[-1])
            if name == 'fitnet':
                connector = copy.deepcopy(model.connectors['fitnet']).train()
                fitnet = F.mse_loss(connector(s_feat), t_feat)
        shapes.update(s=s.shape, t_feat=t_feat.shape)
        s, t = s.double(), t.double()  # the formulas without rounding
        if name == 'fitnet':
            return {'kd': 3 * _kl(s, t), 'fitnet': fitnet}
        return {name: dict(kd=3 * _kl(s, t), dkd=_dkd(s, t, labels),
                           dist=2 * _dist(s, t))[name]}

    hook = FirstIter(expect)
    runner.register_hook(hook)
    runner.train()
    assert runner.iter == 4  # 32 images in batches of 8
    expected = hook.expected
    for loss, value in expected.items():
        # float32 logits of two forward passes differ by ~1e-7; a KL between
        # nearly equal distributions (DKD's is ~1e-3 here) magnifies that
        # relatively, hence the absolute floor (1000x below the loss).
        assert hook.outputs[f'distill.loss_{loss}'] == pytest.approx(
            float(value), rel=1e-4, abs=1e-6), loss
    # the student's own loss (mmpretrain's `loss`) beside the total
    assert hook.outputs['loss'] == pytest.approx(
        hook.outputs['loss_student'] +
        sum(float(v) for v in expected.values()), rel=1e-5)
    assert shapes == dict(s=(8, 8), t_feat=(8, 128, 4, 4))


# ------------------------------------------------- mmpretrain's own tools
def test_mmpretrain_own_train_and_test(teacher_ckpt, cls_data, tmp_path):
    """mmpretrain's packaged tools/train.py trains the KD config (it builds
    mmkd's runner through ``runner_type``), and its tools/test.py evaluates
    the saved student with the plain student config."""
    import mmpretrain
    tools = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools')
    kd_cfg = tmp_path / 'kd.py'
    kd_cfg.write_text(
        f"_base_ = [{STUDENT!r}, 'mmkd::distill/cls_dkd.py']\n"
        f'distill = dict(teacher=dict(config={TEACHER!r}, '
        f'checkpoint={teacher_ckpt!r}))\n')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    train = subprocess.run(
        [sys.executable, osp.join(tools, 'train.py'), str(kd_cfg),
         '--work-dir', str(tmp_path / 'kd'), '--cfg-options',
         'train_cfg.max_epochs=1', 'train_dataloader.batch_size=16',
         'default_hooks.logger.interval=1'],
        capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert train.returncode == 0, train.stderr[-3000:]
    assert 'distill.loss_dkd' in train.stdout + train.stderr
    ckpt = tmp_path / 'kd' / 'epoch_1.pth'
    state = torch.load(str(ckpt), weights_only=False)['state_dict']
    assert not any(k.startswith(('teacher', 'connectors')) for k in state)
    test = subprocess.run(
        [sys.executable, osp.join(tools, 'test.py'), STUDENT, str(ckpt),
         '--work-dir', str(tmp_path / 'test')],
        capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert test.returncode == 0, test.stderr[-3000:]
    log = test.stdout + test.stderr
    assert 'accuracy/top1' in log
    assert 'missing keys' not in log and 'unexpected key' not in log


# ------------------------------------------------------ MMRazor's configs
def test_mmrazor_dkd_config_of_its_zoo_converts(tmp_path):
    """The shape of MMRazor's dkd_resnet34_resnet18 config (``mmcls::``
    student and teacher, a gt_labels recorder): the student's base resolves
    in mmpretrain and the loss maps to mmkd's DKD on ``head.fc``."""
    from test_mmrazor_convert import convert, razor_config
    distiller = (
        "dict(type='ConfigurableDistiller', student_recorders=dict("
        "fc=dict(type='ModuleOutputs', source='head.fc'), "
        "gt_labels=dict(type='ModuleInputs', source='head.loss_module')), "
        "teacher_recorders=dict(fc=dict(type='ModuleOutputs', "
        "source='head.fc')), distill_losses=dict(loss_dkd=dict("
        "type='DKDLoss', tau=1, beta=0.5, loss_weight=1, reduction='mean')),"
        " loss_forward_mappings=dict(loss_dkd=dict(preds_S=dict("
        "from_student=True, recorder='fc'), preds_T=dict(from_student="
        "False, recorder='fc'), gt_labels=dict(recorder='gt_labels', "
        'from_student=True, data_idx=1))))')
    razor = razor_config(tmp_path, 'mmpretrain::resnet/resnet18_8xb32_in1k.py',
                         'mmcls::resnet/resnet34_8xb32_in1k.py',
                         'dkd_teacher.pth', distiller)
    # MMRazor's own student path is mmcls::, as in its zoo
    text = open(razor).read().replace(
        "cfg_path='mmpretrain::resnet/resnet18", "cfg_path='mmcls::resnet/"
        'resnet18')
    open(razor, 'w').write(text)
    cfg = convert(razor, tmp_path)
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone.depth == 18 and cfg.model.head.num_classes \
        == 1000
    assert cfg.distill.teacher.config == \
        'mmpretrain::resnet/resnet34_8xb32_in1k.py'
    # MMRazor's DKD sums over the batch (size_average=False)
    assert cfg.distill.losses.to_dict() == dict(dkd=dict(
        type='DKDLoss', student='head.fc', teacher='head.fc', connector=None,
        tau=1, beta=0.5, loss_weight=1, reduction='sum'))


def test_mmrazor_kd_config_converts_and_trains(teacher_ckpt, tmp_path):
    """MMRazor's kd_logits recipe (KLDivergence, tau 1, weight 3) on the
    mini classifiers: the converted config trains through the Runner and its
    first loss is 3 KL(teacher || student) of the two heads' logits."""
    from test_mmrazor_convert import convert, razor_config
    distiller = (
        "dict(type='ConfigurableDistiller', student_recorders=dict("
        "fc=dict(type='ModuleOutputs', source='head.fc')), "
        "teacher_recorders=dict(fc=dict(type='ModuleOutputs', "
        "source='head.fc')), distill_losses=dict(loss_kl=dict("
        "type='KLDivergence', tau=1, loss_weight=3)), "
        "loss_forward_mappings=dict(loss_kl=dict(preds_S=dict("
        "from_student=True, recorder='fc'), preds_T=dict("
        "from_student=False, recorder='fc'))))")
    cfg = convert(razor_config(tmp_path, STUDENT, TEACHER, teacher_ckpt,
                               distiller), tmp_path)
    assert cfg.distill.losses.kl.type == 'KLDivergence'
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.update(max_epochs=1, val_interval=100)
    cfg.train_dataloader.update(batch_size=16)
    cfg.train_dataloader.dataset.pipeline = \
        cfg.val_dataloader.dataset.pipeline
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.distill.validate_teacher = False

    def expect(model, batch):
        model.setup(batch)
        student = copy.deepcopy(model.module).train()
        data = model.module.data_preprocessor(batch, True)
        with torch.no_grad():
            s = student.head.fc(student.neck(student.backbone(
                data['inputs']))[-1])
            t = model.teacher.head.fc(model.teacher.neck(
                model.teacher.backbone(data['inputs']))[-1])
        return 3 * _kl(s.double(), t.double())

    hook = FirstIter(expect)
    runner = build_runner(cfg)
    runner.register_hook(hook)
    runner.train()
    assert runner.iter == 2
    assert hook.outputs['distill.loss_kl'] == pytest.approx(
        float(hook.expected), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize('path', [
    'configs/examples/resnet18_cifar_student_dkd_mini.py',
    'configs/zoo/resnet18_cifar_student_quarter_kd.py'])
def test_example_and_zoo_configs_name_teacher_and_recipe(path, cls_data):
    cfg = load_config(osp.join(REPO, path), 'train')
    assert cfg.runner_type == 'mmkd.DistillRunner'
    assert cfg.model.backbone.base_channels == 4
    teacher = load_config(cfg.distill.teacher.config)
    assert teacher.model.backbone.base_channels == 16
    losses = cfg.distill.losses
    assert all(v.student == v.teacher == 'head.fc' for v in losses.values())

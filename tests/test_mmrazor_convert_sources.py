"""MMRazor configs that name other sources, converted: the algorithm's
``init_cfg`` (a pretraining stage's checkpoint, abloss), configs that mmdet
3.3 and mmpretrain 1.2 renamed (CWD on Faster R-CNN, DeiT) and MMRazor's own
configs through ``--mmrazor-root`` (OFD's wide ResNets)."""
import os.path as osp
import shutil
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import MODELS, DefaultScope

from conftest import REPO
from mmkd.converters.mmrazor.renames import RENAMED_CONFIGS
from mmkd.converters.mmrazor.sources import config_file, rescope

sys.path.insert(0, osp.join(REPO, 'tools'))
from convert_mmrazor_checkpoint import main as convert_checkpoint  # noqa
from convert_mmrazor_config import main as convert_config  # noqa: E402
from train import build_runner  # noqa: E402

TEACHER = osp.join(REPO, 'configs/mini/cls/resnet18_cifar_teacher.py')
STUDENT = osp.join(REPO, 'configs/mini/cls/resnet18_cifar_student.py')
VAL_LOOP = "val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')\n"  # noqa: E501


@pytest.fixture(scope='module')
def cls_data(mini_data):
    """8 training and 4 validation images under $MMKD_DATA_ROOT/cls."""
    from mmkd.datasets import generate_mini_cls
    return generate_mini_cls(osp.join(mini_data, 'cls'), num_train=8,
                             num_val=4)


def build(cfg_path: str) -> torch.nn.Module:
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(Config.fromfile(cfg_path).model)


def convert(razor: str, tmp_path, *extra: str) -> str:
    out = str(tmp_path / 'mmkd_cfg.py')
    assert convert_config([razor, '-o', out, *extra]) == 0
    return out


class Snapshot(Hook):
    """The student's and the teacher's weights when training starts (after
    the Runner initialised the weights)."""

    def before_train(self, runner):
        self.student = {k: v.clone()
                        for k, v in runner.model.module.state_dict().items()}
        self.teacher = {k: v.clone()
                        for k, v in runner.model.teacher.state_dict().items()}


def train_2_iters(cfg: Config, tmp_path) -> Snapshot:
    """2 iterations (4 mini images in batches of 2), no validation."""
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=100)
    cfg.train_dataloader.dataset.indices = 4
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.distill.validate_teacher = False
    cfg.distill.diagnose = False
    runner = build_runner(cfg)
    hook = Snapshot()
    runner.register_hook(hook)
    runner.train()
    assert runner.iter == 2
    return hook


# ------------------------------------------------------------- init_cfg
def abloss_logits(tmp_path, pretrain_checkpoint: str) -> str:
    """MMRazor's abloss_logits_resnet50_resnet18_8xb32_in1k.py (ABLoss's
    second stage: KD from the checkpoint of the first), its _base_ and
    cfg_paths on the mini classifiers."""
    path = tmp_path / 'abloss_logits.py'
    path.write_text(f"""_base_ = [{STUDENT!r}]

# Modify pretrain_checkpoint before training.
pretrain_checkpoint = {pretrain_checkpoint!r}
model = dict(
    _delete_=True,  # the student's model is the _base_'s
    _scope_='mmrazor',
    type='SingleTeacherDistill',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        # RGB format normalization parameters
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        # convert image from BGR to RGB
        bgr_to_rgb=True),
    architecture=dict(cfg_path={STUDENT!r}, pretrained=False),
    teacher=dict(cfg_path={TEACHER!r}, pretrained=False),
    init_cfg=dict(type='Pretrained', checkpoint=pretrain_checkpoint),
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        distill_losses=dict(
            loss_kl=dict(
                type='KLDivergence', loss_weight=6.25, reduction='mean')),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))

find_unused_parameters = True

{VAL_LOOP}""")
    return str(path)


def test_init_cfg_loads_the_pretraining_checkpoint(cls_data, tmp_path):
    """``init_cfg=dict(type='Pretrained', checkpoint=c)`` on the algorithm
    -> ``distill.student_init=dict(checkpoint=c)``: the ``architecture.``
    weights of MMRazor's first-stage checkpoint are the student's when
    training starts; its ``teacher.`` weights (what MMRazor's init_cfg put
    into the teacher) through the step the converted header names."""
    torch.manual_seed(3)
    student, teacher = build(STUDENT), build(TEACHER)
    for m in (student, teacher):  # not what a fresh init gives
        for p in m.parameters():
            p.data.uniform_(-1, 1)
    state = {f'architecture.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teacher.{k}': v for k, v in teacher.state_dict().items()})
    state['distiller.connectors.loss_s4_sfeat.conv.weight'] = torch.ones(1)
    ckpt = str(tmp_path / 'epoch_20.pth')
    torch.save(dict(meta=dict(epoch=20), state_dict=state), ckpt)

    out = convert(abloss_logits(tmp_path, ckpt), tmp_path)
    cfg = Config.fromfile(out)
    assert cfg.distill.student_init == dict(checkpoint=ckpt)
    assert cfg.distill.teacher.checkpoint is None  # no teacher_ckpt
    header = ' '.join(open(out).read().split('_base_')[0].replace(
        '#', ' ').split())
    assert f'python tools/convert_mmrazor_checkpoint.py {ckpt} student.pth ' \
        '--teacher teacher.pth' in header
    assert 'init_cfg' not in cfg.model  # nothing else of it written

    # the header's step for the teacher, then training
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    assert convert_checkpoint([ckpt, str(tmp_path / 'student.pth'),
                               '--teacher', teacher_ckpt]) == 0
    cfg.distill.teacher.checkpoint = teacher_ckpt
    seen = train_2_iters(cfg, tmp_path)
    for key, value in student.state_dict().items():
        assert torch.equal(seen.student[key], value), key
    for key, value in teacher.state_dict().items():
        assert torch.equal(seen.teacher[key], value), key


def test_init_cfg_other_than_pretrained_is_refused(tmp_path, capsys):
    text = open(abloss_logits(tmp_path, 'x.pth')).read().replace(
        "init_cfg=dict(type='Pretrained', checkpoint=pretrain_checkpoint)",
        "init_cfg=dict(type='Kaiming', layer='Conv2d')")
    path = tmp_path / 'kaiming.py'
    path.write_text(text)
    assert convert_config([str(path), '-o', str(tmp_path / 'o.py')]) == 1
    assert "model.init_cfg={'type': 'Kaiming'" in capsys.readouterr().err


def test_mmrazor_kd_config_builds_with_its_preprocessor(tmp_path):
    """MMRazor's kd_logits_resnet34_resnet18_8xb32_in1k.py: its
    ``model.data_preprocessor`` on mmpretrain classifiers (whose configs set
    theirs at the top level) is the student's and the teacher's without a
    ``_delete_`` left inside, so both build."""
    from mmkd.models.teacher import load_config
    path = tmp_path / 'kd_logits_resnet34_resnet18_8xb32_in1k.py'
    path.write_text(f"""_base_ = [
    'mmcls::_base_/datasets/imagenet_bs32.py',
    'mmcls::_base_/schedules/imagenet_bs256.py',
    'mmcls::_base_/default_runtime.py'
]

teacher_ckpt = 'https://download.openmmlab.com/mmclassification/v0/resnet/resnet34_8xb32_in1k_20210831-f257d4e6.pth'  # noqa: E501

model = dict(
    _scope_='mmrazor',
    type='SingleTeacherDistill',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        # RGB format normalization parameters
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        # convert image from BGR to RGB
        bgr_to_rgb=True),
    architecture=dict(
        cfg_path='mmcls::resnet/resnet18_8xb32_in1k.py', pretrained=False),
    teacher=dict(
        cfg_path='mmcls::resnet/resnet34_8xb32_in1k.py', pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        distill_losses=dict(
            loss_kl=dict(type='KLDivergence', tau=1, loss_weight=3)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))

find_unused_parameters = True

{VAL_LOOP}""")
    cfg = Config.fromfile(convert(str(path), tmp_path))
    teacher = load_config(cfg.distill.teacher.config)
    teacher.merge_from_dict(cfg.distill.teacher.cfg_options)
    for model_cfg in (cfg.model, teacher.model):
        assert '_delete_' not in model_cfg.data_preprocessor
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(model_cfg)
        assert type(model.data_preprocessor).__name__ == \
            'ClsDataPreprocessor'
        torch.testing.assert_close(model.data_preprocessor.mean.flatten(),
                                   torch.tensor([123.675, 116.28, 103.53]))
        assert model.data_preprocessor.to_rgb


# ------------------------------------------------------ renamed configs
def test_renamed_configs_table():
    """Every new name is an installed config, every old one is not (the
    table holds only renames the installed packages need)."""
    assert len(RENAMED_CONFIGS) == 3
    for old, new in RENAMED_CONFIGS.items():
        assert config_file(rescope(old)) is None, old
        assert osp.isfile(config_file(new)), new


def test_cwd_faster_rcnn_by_its_mmdet2_names(tmp_path):
    """MMRazor's cwd_fpn_frcnn_r101_frcnn_r50_1x_coco.py names mmdet 2.x's
    faster_rcnn_*: the converted config names mmdet 3.3's faster-rcnn_*,
    says so in its header and loads."""
    losses = ', '.join(f"loss_cwd_fpn{i}=dict(type='ChannelWiseDivergence', "
                       'tau=1, loss_weight=10)' for i in range(5))
    mappings = ', '.join(
        f"loss_cwd_fpn{i}=dict(preds_S=dict(from_student=True, "
        f"recorder='fpn', data_idx={i}), preds_T=dict(from_student=False, "
        f"recorder='fpn', data_idx={i}))" for i in range(5))
    path = tmp_path / 'cwd_fpn_frcnn_r101_frcnn_r50_1x_coco.py'
    path.write_text(f"""_base_ = [
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]
teacher_ckpt = 'faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth'  # noqa: E501
model = dict(
    _scope_='mmrazor',
    type='FpnTeacherDistill',
    architecture=dict(
        cfg_path='mmdet::faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py',
        pretrained=False),
    teacher=dict(
        cfg_path='mmdet::faster_rcnn/faster_rcnn_r101_fpn_2x_coco.py',
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict({losses}),
        loss_forward_mappings=dict({mappings})))
find_unused_parameters = True
{VAL_LOOP}""")
    out = convert(str(path), tmp_path)
    text = open(out).read()
    for old in ('faster_rcnn_r50_fpn_1x_coco', 'faster_rcnn_r101_fpn_2x_coco'):
        new = old.replace('faster_rcnn_', 'faster-rcnn_')
        assert f'mmdet::faster_rcnn/{old}.py ->' in text
        assert f'mmdet::faster_rcnn/{new}.py: the installed package ' \
            'renamed it' in ' '.join(text.replace('#', ' ').split())
    cfg = Config.fromfile(out)
    assert Config._get_base_files(out) == [
        'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
    assert cfg.model.type == 'FasterRCNN' and cfg.model.backbone.depth == 50
    assert cfg.distill.teacher.config == \
        'mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py'
    assert sorted(cfg.distill.losses) == [f'cwd_fpn{i}' for i in range(5)]


def test_unknown_config_name_is_refused(tmp_path, capsys):
    """A name neither installed nor in the table: refused, naming both."""
    path = tmp_path / 'razor.py'
    path.write_text(
        "model = dict(_scope_='mmrazor', type='SingleTeacherDistill', "
        "architecture=dict(cfg_path='mmdet::faster_rcnn/"
        "faster_rcnn_r50_fpn_9x_coco.py'), teacher=dict(cfg_path='mmdet::"
        "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'))\n")
    out = tmp_path / 'o.py'
    assert convert_config([str(path), '-o', str(out)]) == 1
    err = capsys.readouterr().err
    assert 'mmdet::faster_rcnn/faster_rcnn_r50_fpn_9x_coco.py: mmdet has ' \
        'no such config' in err and 'renames.py' in err
    assert not out.exists()


def test_deit_student_by_its_mmcls_name(tmp_path, capsys):
    """A student embedded from mmcls 1.x's deit-base_pt-16xb64_in1k.py
    (MMRazor's DeiT config's _base_): mmpretrain 1.2's
    deit-base_16xb64_in1k.py. MMRazor's own DeiT config then names only the
    MMRazor parts mmkd lacks (its head and CrossEntropyLoss)."""
    path = tmp_path / 'deit.py'
    path.write_text("""_base_ = ['mmcls::deit/deit-base_pt-16xb64_in1k.py']
student = _base_.model
teacher = dict(
    _scope_='mmcls',
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=512))
model = dict(
    _scope_='mmrazor',
    _delete_=True,
    type='SingleTeacherDistill',
    architecture=student,
    teacher=teacher,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.layers.head')),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        distill_losses=dict(loss_kl=dict(type='KLDivergence', tau=1)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
find_unused_parameters = True
""")
    out = convert(str(path), tmp_path)
    assert Config._get_base_files(out) == [
        'mmpretrain::deit/deit-base_16xb64_in1k.py']
    cfg = Config.fromfile(out)
    assert cfg.model.backbone.arch == 'deit-base'
    assert cfg.distill.teacher.config.model._scope_ == 'mmpretrain'
    assert 'mmcls::deit/deit-base_pt-16xb64_in1k.py ->' in open(out).read()

    # MMRazor's config: its DeiTClsHead on the student (and its soft
    # CrossEntropyLoss) have no mmkd equivalent
    text = path.read_text().replace(
        "student = _base_.model\n", "student = _base_.model\n"
        "student.backbone.type = 'DistilledVisionTransformer'\n"
        "student.head = dict(type='mmrazor.DeiTClsHead', num_classes=1000, "
        'in_channels=768)\n').replace("dict(type='KLDivergence', tau=1)",
                                      "dict(type='CrossEntropyLoss')")
    path.write_text(text)
    assert convert_config([str(path), '-o', str(tmp_path / 'x.py')]) == 1
    err = capsys.readouterr().err
    assert 'model.head: mmrazor.DeiTClsHead (an MMRazor model part' in err
    assert "loss type 'CrossEntropyLoss'" in err
    assert 'cannot be loaded' not in err


# ----------------------------------------------------- --mmrazor-root
# MMRazor's configs/_base_/vanilla_models/wrn16_2_cifar10.py and
# configs/vanilla/mmcls/wide-resnet/wrn{16-w2,28-w4}_b16x8_cifar10.py
VANILLA = {
    '_base_/vanilla_models/wrn16_2_cifar10.py': """model = dict(
    _scope_='mmcls',
    type='ImageClassifier',
    backbone=dict(
        _scope_='mmrazor',
        type='WideResNet',
        depth=16,
        num_stages=3,
        widen_factor=2,
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))

find_unused_parameters = True
""",
    'vanilla/mmcls/wide-resnet/wrn16-w2_b16x8_cifar10.py': """_base_ = [
    'mmcls::_base_/datasets/cifar10_bs16.py',
    '../../../_base_/vanilla_models/wrn16_2_cifar10.py',
    'mmcls::_base_/schedules/cifar10_bs128.py',
    'mmcls::_base_/default_runtime.py',
]
test_evaluator = dict(topk=(1, 5))
""",
    'vanilla/mmcls/wide-resnet/wrn28-w4_b16x8_cifar10.py':
    "_base_ = ['wrn16-w2_b16x8_cifar10.py']\n" + """model = dict(
    backbone=dict(depth=28, widen_factor=4), head=dict(in_channels=256, ))
"""}


def ofd_config() -> str:
    """MMRazor's configs/distill/mmcls/ofd/ofd_backbone_resnet50_resnet18_
    8xb16_cifar10.py (its connectors and mappings written by loops)."""
    stages = {1: ('backbone.layer2.0.bn1', 32, 0.25),
              2: ('backbone.layer3.0.bn1', 64, 0.5),
              3: ('backbone.bn1', 128, 1.0)}
    recorders = ', '.join(f"bb_{i}=dict(type='ModuleOutputs', source={s!r})"
                          for i, (s, _, _) in stages.items())
    losses = ', '.join(f"loss_{i}=dict(type='OFDLoss', loss_weight={w})"
                       for i, (_, _, w) in stages.items())
    connectors = ', '.join(
        f"loss_{i}_sfeat=dict(type='ConvModuleConnector', in_channel={c}, "
        f"out_channel={2 * c}, norm_cfg=dict(type='BN'), act_cfg=None), "
        f"loss_{i}_tfeat=dict(type='OFDTeacherConnector')"
        for i, (_, c, _) in stages.items())
    mappings = ', '.join(
        f"loss_{i}=dict(s_feature=dict(from_student=True, recorder='bb_{i}',"
        f" connector='loss_{i}_sfeat'), t_feature=dict(from_student=False, "
        f"recorder='bb_{i}', connector='loss_{i}_tfeat'))" for i in stages)
    return f"""_base_ = [
    'mmcls::_base_/datasets/cifar10_bs16.py',
    'mmcls::_base_/schedules/cifar10_bs128.py',
    'mmcls::_base_/default_runtime.py'
]

model = dict(
    _scope_='mmrazor',
    type='OverhaulFeatureDistillation',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        # RGB format normalization parameters
        mean=[125.307, 122.961, 113.8575],
        std=[51.5865, 50.847, 51.255],
        # convert image from BGR to RGB
        bgr_to_rgb=False),
    architecture=dict(
        cfg_path=  # noqa: E251
        'mmrazor::vanilla/mmcls/wide-resnet/wrn16-w2_b16x8_cifar10.py',
        pretrained=False),
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmrazor::vanilla/mmcls/wide-resnet/wrn28-w4_b16x8_cifar10.py',
        pretrained=False),
    teacher_ckpt=  # noqa: E251
    'https://download.openmmlab.com/mmrazor/v1/wide_resnet/wrn28_4_b16x8_cifar10_20220831_173536-d6f8725c.pth',  # noqa: E501
    calculate_student_loss=True,
    student_trainable=True,
    distiller=dict(
        type='OFDDistiller',
        student_recorders=dict({recorders}),
        teacher_recorders=dict({recorders}),
        distill_losses=dict({losses}),
        connectors=dict({connectors}),
        loss_forward_mappings=dict({mappings})))

find_unused_parameters = True

{VAL_LOOP}"""


def test_mmrazor_root_inlines_ofd_wide_resnets(cls_data, tmp_path,
                                               capsys):
    """OFD's student and teacher are MMRazor's own configs
    (``mmrazor::vanilla/...``): read from --mmrazor-root and inlined, the
    result loads with the MMRazor tree gone, its WideResNets are mmkd's and
    it trains (the teacher from a checkpoint of MMRazor's WRN-28-4 keys)."""
    root = tmp_path / 'mmrazor'
    for rel, text in VANILLA.items():
        (root / 'configs' / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / 'configs' / rel).write_text(text)
    razor = root / 'configs/distill/mmcls/ofd/ofd_backbone_resnet50_' \
        'resnet18_8xb16_cifar10.py'
    razor.parent.mkdir(parents=True)
    razor.write_text(ofd_config())

    out = tmp_path / 'o.py'
    assert convert_config([str(razor), '-o', str(out)]) == 1
    assert 'pass --mmrazor-root DIR' in capsys.readouterr().err
    out = convert(str(razor), tmp_path, '--mmrazor-root', str(root))
    shutil.rmtree(root)  # the result needs no MMRazor file
    body = open(out).read().split('\n_base_ = ')[1]  # below the header
    assert str(root) not in body and 'mmrazor::' not in body
    assert Config._get_base_files(out) == [
        'mmpretrain::_base_/datasets/cifar10_bs16.py',
        'mmpretrain::_base_/schedules/cifar10_bs128.py',
        'mmpretrain::_base_/default_runtime.py']
    cfg = Config.fromfile(out)
    assert 'find_unused_parameters' not in cfg
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone == dict(type='mmkd.WideResNet', depth=16,
                                      num_stages=3, widen_factor=2)
    assert cfg.model.head.in_channels == 128
    assert cfg.model.data_preprocessor.type == 'mmpretrain.ClsDataPreprocessor'
    assert cfg.test_evaluator.topk == (1, )  # the MMRazor config's own
    teacher = cfg.distill.teacher.config
    assert teacher.default_scope == 'mmpretrain'
    assert teacher.model.backbone == dict(type='mmkd.WideResNet', depth=28,
                                          num_stages=3, widen_factor=4)
    assert teacher.model.head.in_channels == 256
    assert {k: (v.student, v.connector.in_channel, v.connector.out_channel,
                v.loss_weight) for k, v in cfg.distill.losses.items()} == {
        '1': ('backbone.layer2.0.bn1', 32, 64, 0.25),
        '2': ('backbone.layer3.0.bn1', 64, 128, 0.5),
        '3': ('backbone.bn1', 128, 256, 1.0)}

    # trains on the mini data (8 of the head's 10 classes), the teacher
    # from a checkpoint with MMRazor's WRN-28-4 keys
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrn = MODELS.build(teacher.model)
    ckpt = str(tmp_path / 'wrn28_4.pth')
    torch.save(dict(state_dict=wrn.state_dict()), ckpt)
    cfg.distill.teacher.checkpoint = ckpt
    mini = Config.fromfile(STUDENT)
    for key in ('train_dataloader', 'val_dataloader', 'val_evaluator'):
        cfg[key] = mini[key]
    seen = train_2_iters(cfg, tmp_path)
    for key, value in wrn.state_dict().items():
        assert torch.equal(seen.teacher[key], value), key

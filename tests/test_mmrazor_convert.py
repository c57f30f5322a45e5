"""MMRazor configs and checkpoints converted for mmkd
(``tools/convert_mmrazor_config.py``, ``tools/convert_mmrazor_checkpoint.py``).

The MMRazor configs are written here in the shapes of MMRazor's zoo
(PKD on an FPN detector's neck, CWD on a PSPNet's logits, MGD with
connectors and an embedded student), on mmkd's mini models; the converted
configs train 2 iterations through the real Runner."""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import Runner

from conftest import REPO
from mmkd import DistillModel
from mmkd.models.teacher import build_teacher, load_config

sys.path.insert(0, osp.join(REPO, 'tools'))
from convert_mmrazor_checkpoint import main as convert_checkpoint  # noqa
from convert_mmrazor_config import main as convert_config  # noqa: E402
from train import build_runner  # noqa: E402

DET_S = osp.join(REPO, 'configs/mini/det/faster_rcnn_r18_student.py')
DET_T = osp.join(REPO, 'configs/mini/det/faster_rcnn_r18_teacher.py')
SEG_S = osp.join(REPO, 'configs/mini/seg/pspnet_r18_student.py')
SEG_T = osp.join(REPO, 'configs/mini/seg/pspnet_r18_teacher.py')


def build_model(cfg_path: str) -> torch.nn.Module:
    cfg = load_config(cfg_path)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def teacher_ckpts(tmp_path_factory):
    """Weights of the mini teachers (freshly initialised: these tests are
    about the wiring, not the teaching)."""
    root = tmp_path_factory.mktemp('teachers')
    out = {}
    for name, cfg in (('det', DET_T), ('seg', SEG_T)):
        torch.manual_seed(0)
        out[name] = str(root / f'{name}.pth')
        torch.save(dict(state_dict=build_model(cfg).state_dict()), out[name])
    return out


def razor_config(tmp_path, student: str, teacher: str, ckpt: str,
                 distiller: str, algorithm: str = 'SingleTeacherDistill',
                 extra: str = '', architecture: str = None) -> str:
    """An MMRazor config as its zoo writes them: the student's runtime
    bases, the algorithm as ``model``, ``find_unused_parameters`` and
    ``SingleTeacherDistillValLoop``."""
    arch = architecture or f'dict(cfg_path={student!r}, pretrained=False)'
    path = tmp_path / 'razor_cfg.py'
    path.write_text(
        f'_base_ = [{student!r}]\n'
        f'teacher_ckpt = {ckpt!r}\n{extra}\n'
        f"model = dict(_delete_=True, _scope_='mmrazor', type={algorithm!r},\n"
        f'    architecture={arch},\n'
        f'    teacher=dict(cfg_path={teacher!r}, pretrained=False),\n'
        f'    teacher_ckpt=teacher_ckpt,\n'
        f'    distiller={distiller})\n'
        'find_unused_parameters = True\n'
        "val_cfg = dict(_delete_=True, type='mmrazor."
        "SingleTeacherDistillValLoop')\n")
    return str(path)


def convert(razor: str, tmp_path) -> Config:
    out = str(tmp_path / 'mmkd_cfg.py')
    assert convert_config([razor, '-o', out]) == 0
    cfg = Config.fromfile(out)
    assert cfg.runner_type == 'mmkd.DistillRunner'
    assert 'find_unused_parameters' not in cfg
    assert cfg.val_cfg.type == 'ValLoop'
    # SingleTeacherDistillValLoop's teacher evaluation
    assert cfg.distill.validate_teacher is True
    return cfg


def train_2_iters(cfg: Config, tmp_path) -> Runner:
    cfg.work_dir = str(tmp_path / 'work')
    if cfg.train_cfg.get('type') == 'IterBasedTrainLoop':  # PSPNet
        cfg.train_cfg.update(max_iters=2, val_interval=100)
        cfg.train_dataloader.batch_size = 2  # BN of its 1x1 pooled bins
    else:  # 2 images in batches of 1: 2 iterations
        cfg.train_cfg.update(max_epochs=1, val_interval=100)
        cfg.train_dataloader.dataset.indices = 2
        cfg.train_dataloader.batch_size = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.distill.diagnose = False
    runner = build_runner(cfg)
    assert isinstance(runner.model, DistillModel)
    runner.train()
    assert runner.iter == 2
    for name in cfg.distill.losses:
        value = runner.message_hub.log_scalars[
            f'train/distill.loss_{name}'].current()
        assert value == value and value >= 0, (name, value)
    return runner


def pkd(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """PKD by hand: per-channel standardised maps, half their MSE."""
    def norm(x):
        x = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1)
        return (x - x.mean(1, keepdim=True)) / (x.std(1, unbiased=False,
                                                      keepdim=True) + 1e-6)
    return ((norm(s) - norm(t))**2).mean() / 2


def test_pkd_fpn_detector(mini_data, teacher_ckpts, tmp_path):
    """FpnTeacherDistill, PKD on the neck's levels picked by data_idx, a
    student connector per level, a stop hook and a changed optimizer."""
    connectors = ', '.join(
        f"s_fpn{i}=dict(type='ConvModuleConnector', in_channel=64, "
        "out_channel=128, norm_cfg=dict(type='BN'), act_cfg=None)"
        for i in range(4))
    losses = ', '.join(f"loss_pkd_fpn{i}=dict(type='PKDLoss', loss_weight=6)"
                       for i in range(4))
    mappings = ', '.join(
        f"loss_pkd_fpn{i}=dict(preds_S=dict(from_student=True, "
        f"recorder='fpn', data_idx={i}, connector='s_fpn{i}'), "
        f"preds_T=dict(from_student=False, recorder='fpn', data_idx={i}))"
        for i in range(4))
    distiller = (
        "dict(type='ConfigurableDistiller', "
        "student_recorders=dict(fpn=dict(type='ModuleOutputs', "
        "source='neck')), teacher_recorders=dict(fpn=dict("
        "type='ModuleOutputs', source='neck')), "
        f'connectors=dict({connectors}), distill_losses=dict({losses}), '
        f'loss_forward_mappings=dict({mappings}))')
    extra = ("custom_hooks = [dict(type='mmrazor.DistillationLossDetachHook',"
             ' detach_epoch=5)]\n'
             'optim_wrapper = dict(optimizer=dict(lr=0.005))')
    razor = razor_config(tmp_path, DET_S, DET_T, teacher_ckpts['det'],
                         distiller, 'FpnTeacherDistill', extra)
    cfg = convert(razor, tmp_path)

    assert cfg.distill.teacher == dict(config=DET_T,
                                       checkpoint=teacher_ckpts['det'])
    assert cfg.distill.losses.to_dict() == {
        f'pkd_fpn{i}': dict(
            type='PKDLoss', student=f'neck[{i}]', teacher=f'neck[{i}]',
            connector=dict(type='ConvModuleConnector', in_channel=64,
                           out_channel=128, norm_cfg=dict(type='BN'),
                           act_cfg=None),
            loss_weight=6) for i in range(4)}
    assert cfg.distill.schedules == [dict(type='StopDistillAtEpoch',
                                          stop_epoch=5)]
    assert cfg.optim_wrapper.optimizer.lr == 0.005
    assert not cfg.get('custom_hooks')  # the MMRazor hook is a schedule

    runner = train_2_iters(cfg, tmp_path)
    model = runner.model
    # the losses are PKD x 6 on (connector(student neck[i]), teacher neck[i])
    model.eval()
    data = model.module.data_preprocessor(
        next(iter(runner.train_dataloader)), True)
    with torch.no_grad():
        losses = model.loss(data['inputs'], data['data_samples'])
        s_feats = model.module.extract_feat(data['inputs'])
        t_feats = model.teacher.extract_feat(data['inputs'])
    for i in range(4):
        expected = 6 * pkd(model.connectors[f'pkd_fpn{i}'](s_feats[i]),
                           t_feats[i])
        torch.testing.assert_close(losses[f'distill.loss_pkd_fpn{i}'],
                                   expected, rtol=1e-4, atol=1e-6)


def test_cwd_pspnet_logits(mini_data, teacher_ckpts, tmp_path):
    """SingleTeacherDistill, CWD on the decode head's logits."""
    distiller = (
        "dict(type='ConfigurableDistiller', "
        "distill_losses=dict(loss_cwd=dict(type='ChannelWiseDivergence', "
        'tau=1, loss_weight=5)), '
        "student_recorders=dict(logits=dict(type='ModuleOutputs', "
        "source='decode_head.conv_seg')), "
        "teacher_recorders=dict(logits=dict(type='ModuleOutputs', "
        "source='decode_head.conv_seg')), "
        "loss_forward_mappings=dict(loss_cwd=dict(preds_S=dict("
        "from_student=True, recorder='logits'), preds_T=dict("
        "from_student=False, recorder='logits'))))")
    razor = razor_config(tmp_path, SEG_S, SEG_T, teacher_ckpts['seg'],
                         distiller)
    cfg = convert(razor, tmp_path)
    assert cfg.distill.losses.to_dict() == dict(cwd=dict(
        type='ChannelWiseDivergence', student='decode_head.conv_seg',
        teacher='decode_head.conv_seg', connector=None, tau=1,
        loss_weight=5))
    model = train_2_iters(cfg, tmp_path).model
    assert 'cwd' not in model.connectors


def test_mgd_connectors_embedded_student(mini_data, teacher_ckpts,
                                         tmp_path):
    """MGD as MMRazor's zoo writes it: the student embedded as a model
    dict, MGDConnector on the student, MGDLoss(alpha_mgd) (here on the
    last two backbone stages of the PSPNet, 128/256 -> 256/512 channels:
    the mini PSPNet trains faster than the mini Faster R-CNN)."""
    levels = (3, 4)
    channels = {3: (128, 256), 4: (256, 512)}
    distiller = (
        "dict(type='ConfigurableDistiller', student_recorders=dict("
        + ', '.join(f"fpn{i}=dict(type='ModuleOutputs', "
                    f"source='backbone.layer{i}')" for i in levels)
        + '), teacher_recorders=dict('
        + ', '.join(f"fpn{i}=dict(type='ModuleOutputs', "
                    f"source='backbone.layer{i}')" for i in levels)
        + '), connectors=dict('
        + ', '.join(f"s_fpn{i}_connector=dict(type='MGDConnector', "
                    f'student_channels={channels[i][0]}, '
                    f'teacher_channels={channels[i][1]}, lambda_mgd=0.65)'
                    for i in levels)
        + '), distill_losses=dict('
        + ', '.join(f"loss_mgd_fpn{i}=dict(type='MGDLoss', "
                    'alpha_mgd=0.00002)' for i in levels)
        + '), loss_forward_mappings=dict('
        + ', '.join(f"loss_mgd_fpn{i}=dict(preds_S=dict(from_student=True, "
                    f"recorder='fpn{i}', connector='s_fpn{i}_connector'), "
                    f"preds_T=dict(from_student=False, recorder='fpn{i}'))"
                    for i in levels) + '))')
    razor = razor_config(tmp_path, SEG_S, SEG_T, teacher_ckpts['seg'],
                         distiller, 'FpnTeacherDistill',
                         extra='student = _base_.model',
                         architecture='student')
    cfg = convert(razor, tmp_path)
    assert cfg.distill.losses.to_dict() == {
        f'mgd_fpn{i}': dict(
            type='MSELoss', student=f'backbone.layer{i}',
            teacher=f'backbone.layer{i}',
            connector=dict(type='MGDConnector',
                           student_channels=channels[i][0],
                           teacher_channels=channels[i][1], lambda_mgd=0.65),
            reduction='sum', loss_weight=2e-5) for i in levels}
    assert cfg.model.decode_head.channels == 64  # the embedded student
    model = train_2_iters(cfg, tmp_path).model
    for i in levels:
        assert type(model.connectors[f'mgd_fpn{i}']).__name__ == \
            'MGDConnector'
        assert model.distill_losses[f'mgd_fpn{i}'].reduction == 'sum'


def test_spec_mapping_and_label_losses(tmp_path):
    """ModuleInputs, record_idx and data_idx picks; DKD's gt_labels
    recorder dropped and its 'mean' reduction mapped to 'sum'."""
    distiller = (
        "dict(type='ConfigurableDistiller', student_recorders=dict("
        "fc=dict(type='ModuleOutputs', source='roi_head.bbox_head.fc_cls'), "
        "gt=dict(type='ModuleInputs', source='roi_head.bbox_head.loss_cls'),"
        " inp=dict(type='ModuleInputs', source='neck.fpn_convs.1')), "
        "teacher_recorders=dict(fc=dict(type='ModuleOutputs', "
        "source='roi_head.bbox_head.fc_cls'), inp=dict(type='ModuleInputs',"
        " source='neck.fpn_convs.1')), distill_losses=dict("
        "loss_dkd=dict(type='DKDLoss', tau=1, beta=0.5, reduction='mean'), "
        "loss_at=dict(type='ATLoss', loss_weight=2)), "
        "loss_forward_mappings=dict(loss_dkd=dict(preds_S=dict("
        "from_student=True, recorder='fc'), preds_T=dict(from_student=False,"
        " recorder='fc', record_idx=1), gt_labels=dict(recorder='gt', "
        "from_student=True, data_idx=1)), loss_at=dict(s_feature=dict("
        "from_student=True, recorder='inp', data_idx=0), t_feature=dict("
        "from_student=False, recorder='inp', record_idx=2, data_idx=1))))")
    razor = razor_config(tmp_path, DET_S, DET_T, 'teacher.pth', distiller)
    losses = convert(razor, tmp_path).distill.losses.to_dict()
    assert losses == dict(
        dkd=dict(type='DKDLoss', student='roi_head.bbox_head.fc_cls',
                 teacher='roi_head.bbox_head.fc_cls[1]', connector=None,
                 tau=1, beta=0.5, reduction='sum'),
        at=dict(type='ATLoss', student='neck.fpn_convs.1:input',
                teacher='neck.fpn_convs.1:input[2][1]', connector=None,
                loss_weight=2))


def test_unmappable_named_nothing_written(tmp_path, capsys):
    """MethodOutputs recorders and unknown losses are listed by name; the
    exit status is 1 and no file is written."""
    distiller = (
        "dict(type='ConfigurableDistiller', student_recorders=dict("
        "feat=dict(type='MethodOutputs', source='mmdet.models.FPN.forward')"
        "), teacher_recorders=dict(feat=dict(type='ModuleOutputs', "
        "source='neck')), distill_losses=dict(loss_a=dict(type='PKDLoss'), "
        "loss_crd=dict(type='CRDLoss')), loss_forward_mappings=dict("
        "loss_a=dict(preds_S=dict(from_student=True, recorder='feat'), "
        "preds_T=dict(from_student=False, recorder='feat')), "
        "loss_crd=dict(s_feats=dict(from_student=False, recorder='feat'), "
        "t_feats=dict(from_student=False, recorder='feat'))))")
    razor = razor_config(tmp_path, DET_S, DET_T, 'teacher.pth', distiller)
    out = tmp_path / 'out.py'
    assert convert_config([razor, '-o', str(out)]) == 1
    err = capsys.readouterr().err
    assert 'student_recorders.feat (MethodOutputs' in err
    assert 'mmdet.models.FPN.forward' in err
    assert 'loss_crd' in err and 'Nothing was written' in err
    assert not out.exists()

    data_free = tmp_path / 'dafl.py'
    data_free.write_text(
        "model = dict(_scope_='mmrazor', type='DAFLDataFreeDistillation', "
        "architecture=dict(cfg_path='x.py'), teachers=dict())\n")
    assert convert_config([str(data_free), '-o', str(out)]) == 1
    assert 'DAFLDataFreeDistillation' in capsys.readouterr().err
    assert not out.exists()


def test_checkpoint_round_trip(tmp_path):
    """architecture./teacher. keys -> a plain student checkpoint (and the
    teacher's on request) that loads strictly; the MMRazor checkpoint
    itself loads as distill.teacher.checkpoint."""
    torch.manual_seed(1)
    student, teacher = build_model(DET_S), build_model(DET_T)
    state = {f'architecture.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teacher.{k}': v for k, v in teacher.state_dict().items()})
    state['distiller.connectors.s_fpn0.conv.weight'] = torch.zeros(1)
    razor_ckpt = str(tmp_path / 'razor.pth')
    meta = dict(epoch=24, iter=100, mmrazor_version='1.0.0')
    torch.save(dict(meta=meta, state_dict=state,
                    optimizer=dict(state={}, param_groups=[])), razor_ckpt)

    out, out_teacher = str(tmp_path / 'student.pth'), str(tmp_path / 't.pth')
    assert convert_checkpoint([razor_ckpt, out, '--teacher',
                               out_teacher]) == 0
    ckpt = torch.load(out, weights_only=True)
    assert set(ckpt) == {'meta', 'state_dict'} and ckpt['meta'] == meta
    fresh = build_model(DET_S)
    fresh.load_state_dict(ckpt['state_dict'], strict=True)
    for key, value in student.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    build_model(DET_T).load_state_dict(
        torch.load(out_teacher, weights_only=True)['state_dict'], strict=True)

    # the MMRazor checkpoint as a teacher checkpoint: its student is loaded
    as_teacher = build_teacher(DET_S, razor_ckpt)
    for key, value in student.state_dict().items():
        assert torch.equal(as_teacher.state_dict()[key], value), key
    # not an MMRazor checkpoint: refused with exit status 1
    assert convert_checkpoint([out, str(tmp_path / 'x.pth')]) == 1

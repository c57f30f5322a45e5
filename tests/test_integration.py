"""KD through mmengine's Runner on real mmdet / mmpose / mmseg models: a
teacher is trained for a couple of iterations, the student is distilled
from it with an ``mmkd::`` recipe, and the checkpoint round trip into the
plain student config and the packages' own tools is checked."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmkd import DistillModel

sys.path.insert(0, osp.join(REPO, 'tools'))
from train import build_runner  # noqa: E402

def is_iter_based(cfg) -> bool:
    return cfg.train_cfg.get('type') == 'IterBasedTrainLoop'


def last_ckpt(runner) -> str:
    name = 'iter_2.pth' if is_iter_based(runner.cfg) else 'epoch_1.pth'
    return osp.join(runner.work_dir, name)


def config(path: str, work_dir, **overrides) -> Config:
    """The config, shortened to 2 iterations (or 1 epoch of the tiny data)."""
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(dict(work_dir=str(work_dir), **overrides))
    if is_iter_based(cfg):
        cfg.train_cfg.update(max_iters=2, val_interval=100)
    else:
        cfg.train_cfg.update(max_epochs=1, val_interval=100)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, by_epoch=not is_iter_based(cfg))
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.pop('custom_hooks', None)  # EMA/pipeline switch: not under test
    return cfg


def train_teacher(cfg_path: str, tmp_path) -> str:
    runner = build_runner(config(cfg_path, tmp_path / 'teacher'))
    runner.train()
    return last_ckpt(runner)


def write_kd_config(tmp_path, student: str, recipe: str, teacher: str,
                    ckpt: str) -> str:
    path = tmp_path / 'kd_cfg.py'
    path.write_text(
        f"_base_ = [{student!r}, 'mmkd::distill/{recipe}']\n"
        f"distill = dict(teacher=dict(config={teacher!r}, "
        f"checkpoint={ckpt!r}))\n")
    return str(path)


def distill(kd_cfg: str, tmp_path):
    runner = build_runner(config(kd_cfg, tmp_path / 'kd'))
    assert isinstance(runner.model, DistillModel)
    runner.train()
    return runner


def check_round_trip(runner, student_cfg: str, tmp_path, metric_key: str):
    """The KD checkpoint holds exactly the plain student's keys, loads into
    it and is evaluated by the plain config's real metric."""
    ckpt_path = last_ckpt(runner)
    ckpt = torch.load(ckpt_path, weights_only=True)
    plain = build_runner(
        config(student_cfg, tmp_path / 'plain', load_from=ckpt_path))
    assert set(ckpt['state_dict']) == set(plain.model.state_dict())
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value.cpu(), ckpt['state_dict'][key]), key
    metrics = plain.test()
    assert metric_key in metrics and metrics[metric_key] >= 0
    return ckpt_path


def assert_distill_logged(runner, names):
    scalars = runner.message_hub.log_scalars
    for name in names:
        value = scalars[f'train/distill.loss_{name}'].current()
        assert value > 0 and value == value, (name, value)
    assert runner.model.teacher is not None
    assert not runner.model.teacher.training


DET = osp.join(REPO, 'configs/mini/det')
POSE = osp.join(REPO, 'configs/mini/pose')
SEG = osp.join(REPO, 'configs/mini/seg')


@pytest.fixture(scope='module')
def rtmdet_teacher(mini_data, tmp_path_factory):
    return train_teacher(osp.join(DET, 'rtmdet_teacher.py'),
                         tmp_path_factory.mktemp('rtmdet'))


def test_rtmdet_pkd(rtmdet_teacher, tmp_path):
    teacher_cfg = osp.join(DET, 'rtmdet_teacher.py')
    student_cfg = osp.join(DET, 'rtmdet_student.py')
    ckpt = rtmdet_teacher
    kd_cfg = write_kd_config(tmp_path, student_cfg, 'rtmdet_pkd_fpn.py',
                             teacher_cfg, ckpt)
    runner = distill(kd_cfg, tmp_path)
    assert_distill_logged(runner, ['pkd_fpn0', 'pkd_fpn1', 'pkd_fpn2'])
    ckpt_path = check_round_trip(runner, student_cfg, tmp_path,
                                 'coco/bbox_mAP')
    # the teacher ran only as far as the neck: its head never ran
    calls = []
    runner.model.teacher.bbox_head.register_forward_hook(
        lambda *a: calls.append(1))
    runner.model.train_step(next(iter(runner.train_dataloader)),
                            runner.optim_wrapper)
    assert calls == []

    # tools/test.py on the KD config evaluates the student, no teacher built
    out = tmp_path / 'metrics.json'
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/test.py'), kd_cfg, ckpt_path,
         '--work-dir', str(tmp_path / 'test'), '--out', str(out)],
        env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'coco/bbox_mAP' in out.read_text()
    assert 'building the teacher' not in proc.stdout + proc.stderr


def test_rtmdet_with_mmdet_own_tools(rtmdet_teacher, tmp_path):
    """mmdet's own tools/train.py trains the KD config; its tools/test.py
    evaluates the checkpoint with the plain student config."""
    import mmdet
    tools = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')
    teacher_cfg = osp.join(DET, 'rtmdet_teacher.py')
    student_cfg = osp.join(DET, 'rtmdet_student.py')
    kd_cfg = write_kd_config(tmp_path, student_cfg, 'rtmdet_pkd_fpn.py',
                             teacher_cfg, rtmdet_teacher)
    opts = ['--cfg-options', 'train_cfg.max_epochs=1',
            'train_cfg.val_interval=100', 'custom_hooks=[]',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1']
    proc = subprocess.run(
        [sys.executable, osp.join(tools, 'train.py'), kd_cfg, '--work-dir',
         str(tmp_path / 'kd')] + opts, capture_output=True, text=True,
        cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'distill.loss_pkd_fpn0' in proc.stdout + proc.stderr
    kd_ckpt = str(tmp_path / 'kd' / 'epoch_1.pth')
    proc = subprocess.run(
        [sys.executable, osp.join(tools, 'test.py'), student_cfg, kd_ckpt,
         '--work-dir', str(tmp_path / 'test')], capture_output=True,
        text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'Load checkpoint from' in log and 'Epoch(test)' in log
    # mmengine warns "do not match exactly" on missing/unexpected keys
    assert 'do not match exactly' not in log
    assert 'missing keys' not in log and 'unexpected key' not in log


def test_faster_rcnn_pkd_with_auto_connectors(mini_data, tmp_path):
    teacher_cfg = osp.join(DET, 'faster_rcnn_r18_teacher.py')
    student_cfg = osp.join(DET, 'faster_rcnn_r18_student.py')
    ckpt = train_teacher(teacher_cfg, tmp_path)
    kd_cfg = write_kd_config(tmp_path, student_cfg, 'fpn_pkd.py',
                             teacher_cfg, ckpt)
    runner = distill(kd_cfg, tmp_path)
    assert_distill_logged(runner, [f'pkd_fpn{i}' for i in range(5)])
    # FPN 64 -> 128 channels: a 1x1 conv connector per level
    for i in range(5):
        conn = runner.model.connectors[f'pkd_fpn{i}'].layers[0]
        assert (conn.in_channels, conn.out_channels) == (64, 128)
    check_round_trip(runner, student_cfg, tmp_path, 'coco/bbox_mAP')


def test_rtmpose_fitnet_with_mmpose_own_train(mini_data, tmp_path):
    import mmpose
    teacher_cfg = osp.join(POSE, 'rtmpose_teacher.py')
    student_cfg = osp.join(POSE, 'rtmpose_student.py')
    ckpt = train_teacher(teacher_cfg, tmp_path)
    kd_cfg = write_kd_config(tmp_path, student_cfg, 'rtmpose_fitnet.py',
                             teacher_cfg, ckpt)
    runner = distill(kd_cfg, tmp_path)
    assert_distill_logged(runner, ['fitnet'])
    check_round_trip(runner, student_cfg, tmp_path, 'coco/AP')
    tools = osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools')
    proc = subprocess.run(
        [sys.executable, osp.join(tools, 'train.py'), kd_cfg, '--work-dir',
         str(tmp_path / 'own'), '--cfg-options', 'train_cfg.max_epochs=1',
         'train_cfg.val_interval=100', 'custom_hooks=[]',
         'default_hooks.logger.interval=1'],
        capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'distill.loss_fitnet' in proc.stdout + proc.stderr


def test_seg_cwd_with_mmseg_own_train(mini_data, tmp_path):
    import mmseg
    teacher_cfg = osp.join(SEG, 'pspnet_r18_teacher.py')
    student_cfg = osp.join(SEG, 'pspnet_r18_student.py')
    ckpt = train_teacher(teacher_cfg, tmp_path)
    kd_cfg = write_kd_config(tmp_path, student_cfg, 'seg_cwd_logits.py',
                             teacher_cfg, ckpt)
    runner = distill(kd_cfg, tmp_path)
    assert_distill_logged(runner, ['cwd_logits'])
    check_round_trip(runner, student_cfg, tmp_path, 'mIoU')
    tools = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools')
    proc = subprocess.run(
        [sys.executable, osp.join(tools, 'train.py'), kd_cfg, '--work-dir',
         str(tmp_path / 'own'), '--cfg-options', 'train_cfg.max_iters=2',
         'train_cfg.val_interval=100', 'default_hooks.logger.interval=1'],
        capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'distill.loss_cwd_logits' in proc.stdout + proc.stderr


def test_downstream_project_with_mmdet_own_train(rtmdet_teacher, tmp_path):
    """projects/shapes_detector: a project with its own registered neck and
    its own custom_imports distils its student with an mmkd recipe through
    mmdet's own tools/train.py."""
    import mmdet
    project = osp.join(REPO, 'projects', 'shapes_detector')
    tools = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')
    env = dict(os.environ, PYTHONPATH=project)
    proc = subprocess.run(
        [sys.executable, osp.join(tools, 'train.py'),
         osp.join(project, 'configs', 'rtmdet_adapter_pkd.py'),
         '--work-dir', str(tmp_path / 'kd'), '--cfg-options',
         f'distill.teacher.checkpoint={rtmdet_teacher}',
         'train_cfg.max_epochs=1', 'train_cfg.val_interval=100',
         'custom_hooks=[]', 'default_hooks.logger.interval=1'],
        capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'distill.loss_pkd_fpn2' in log
    ckpt = torch.load(str(tmp_path / 'kd' / 'epoch_1.pth'), weights_only=True)
    assert any(k.startswith('neck.adapters.') for k in ckpt['state_dict'])


def test_validate_teacher_logs_its_metrics_beside_the_students(
        rtmdet_teacher, tmp_path):
    """``distill.validate_teacher=True``: the teacher's val metrics, equal
    to what its own config and checkpoint give, are logged before training
    and beside the student's after each validation."""
    from mmkd import ValidateTeacherHook
    teacher_cfg = osp.join(DET, 'rtmdet_teacher.py')
    kd_cfg = write_kd_config(tmp_path, osp.join(DET, 'rtmdet_student.py'),
                             'rtmdet_pkd_fpn.py', teacher_cfg, rtmdet_teacher)
    cfg = config(kd_cfg, tmp_path / 'kd', **{'distill.validate_teacher': True})
    cfg.train_cfg.val_interval = 1
    runner = build_runner(cfg)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, ValidateTeacherHook))

    plain = build_runner(config(teacher_cfg, tmp_path / 'plain_teacher',
                                load_from=rtmdet_teacher))
    expected = plain.test()
    assert hook.metrics == {f'teacher/{k}': v for k, v in expected.items()}
    scalars = runner.message_hub.log_scalars
    assert scalars['val/teacher/coco/bbox_mAP'].current() == \
        expected['coco/bbox_mAP']
    assert 'val/coco/bbox_mAP' in scalars  # the student's, beside it
    assert not runner.model.teacher.training

"""Nothing lost, nothing silently wrong (issue 10): the last good state,
non-finite gradients, exact resume, the teacher's own preprocessing, clear
messages, safe checkpoint loading, no connector between class logits. On
the small classifier of test_distill_runner (fast)."""
import builtins
import copy
import os
import os.path as osp
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.registry import MODELS as ROOT_MODELS

from conftest import REPO
from mmkd import DistillLossError, NonFiniteGradError
from mmkd.models.teacher import load_state_dict_from
from test_distill_runner import (ToyDataset, ToyNet, build, make_cfg,
                                 train_teacher)

sys.path.insert(0, osp.join(REPO, 'tools'))
from train import build_runner  # noqa: E402


@ROOT_MODELS.register_module(force=True)
class ToyNetPre(ToyNet):
    """ToyNet with a configurable data preprocessor."""

    def __init__(self, width: int = 4, data_preprocessor=None):
        super().__init__(width)
        if data_preprocessor is not None:
            self.data_preprocessor = ROOT_MODELS.build(data_preprocessor)


@ROOT_DATASETS.register_module(force=True)
class FlipToyDataset(ToyDataset):
    """ToyDataset with random flips drawn from numpy's and Python's global
    generators, as mmcv's transforms do with ``num_workers=0``."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        x = item['inputs']
        if np.random.rand() < 0.5:
            x = x.flip(-1)
        if random.random() < 0.5:
            x = x.flip(-2)
        return dict(inputs=x, data_samples=item['data_samples'])


class Snapshot(Hook):
    """Keeps the state after every training iteration."""
    priority = 'LOWEST'

    def __init__(self):
        self.state = self.distill = self.optim = None

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.state = copy.deepcopy(runner.model.state_dict())
        self.distill = copy.deepcopy(
            runner.model.distill_modules.state_dict())
        self.optim = copy.deepcopy(
            runner.optim_wrapper.optimizer.state_dict()['state'])


class LossLog(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({k: float(v) for k, v in outputs.items()})


def ckpt_files(work_dir) -> list:
    return sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) \
        if osp.isdir(work_dir) else []



# ----------------------------------------------------------- 1. last good
def test_nan_saves_the_state_from_before_the_failing_iteration(tmp_path):
    ckpt = train_teacher(tmp_path)
    losses = dict(bad=dict(type='NaNAfter', after=6, student='backbone',
                           teacher='backbone'))
    runner = build(make_cfg(tmp_path, ckpt, losses=losses))
    snap = Snapshot()
    runner.register_hook(snap)
    with pytest.raises(DistillLossError) as info:
        runner.train()
    good = osp.join(runner.work_dir, 'last_good_iter_5.pth')
    assert f'was saved as {good}' in str(info.value)
    saved = torch.load(good, weights_only=True)
    # parameters and BatchNorm statistics as after iteration 5: the failed
    # forward of iteration 6 moved the running statistics, they were put back
    assert set(saved['state_dict']) == set(snap.state)
    for k, v in snap.state.items():
        assert torch.equal(saved['state_dict'][k], v), k
    assert any('running_mean' in k for k in snap.state)
    for k, v in snap.distill.items():
        assert torch.equal(saved['distill_state'][k], v), k
    for i, state in snap.optim.items():
        for k, v in state.items():
            assert torch.equal(saved['optimizer']['state'][i][k], v), (i, k)


class Diverge(Hook):
    """Makes the student's weights infinite after iteration 5, as a
    diverged update would."""

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter == 4:
            runner.model.module.head.weight.data.fill_(float('inf'))


def test_nan_after_a_diverged_update_saves_nothing(tmp_path):
    ckpt = train_teacher(tmp_path)
    losses = dict(out=dict(type='MSELoss', student='head', teacher='head'))
    runner = build(make_cfg(tmp_path, ckpt, losses=losses))
    runner.register_hook(Diverge())
    with pytest.raises(DistillLossError) as info:
        runner.train()
    message = str(info.value)
    assert 'Nothing was saved' in message and 'not finite' in message
    assert 'student.head.weight' in message
    newest = osp.join(runner.work_dir, 'epoch_1.pth')
    assert f'the newest regular checkpoint is {newest}' in message
    assert not [f for f in ckpt_files(runner.work_dir)
                if f.startswith('last_good')]


def test_nan_at_the_setup_probe_says_nothing_was_saved(tmp_path):
    torch.manual_seed(1)
    teacher = ToyNet(8)
    with torch.no_grad():
        teacher.backbone[0].weight[0, 0, 0, 0] = float('nan')
    ckpt = str(tmp_path / 'nan_teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    runner = build(make_cfg(tmp_path, ckpt))
    with pytest.raises(DistillLossError) as info:
        runner.train()
    message = str(info.value)
    assert 'set-up probe' in message and 'nothing was saved' in message
    assert 'was saved as' not in message
    assert ckpt_files(runner.work_dir) == []


# ------------------------------------------------ 2. non-finite gradients
def huge_weight_cfg(tmp_path, ckpt, **distill):
    cfg = make_cfg(tmp_path, ckpt, epochs=2, losses=dict(
        feat=dict(type='MSELoss', loss_weight=1e30, student='backbone',
                  teacher='backbone'),
        small=dict(type='MSELoss', loss_weight=1.0, student='head',
                   teacher='head')), **distill)
    cfg['optim_wrapper']['clip_grad'] = dict(max_norm=1.0)
    return cfg


def test_nonfinite_grad_norms_stop_the_run(tmp_path):
    ckpt = train_teacher(tmp_path)
    runner = build(huge_weight_cfg(tmp_path, ckpt))
    log = LossLog()
    runner.register_hook(log)
    with pytest.raises(NonFiniteGradError) as info:
        runner.train()
    # the losses stayed finite: only the gradient norm showed the problem
    assert all(np.isfinite(v) for it in log.losses for v in it.values())
    assert runner.iter == 2  # stopped in the 3rd iteration (patience 3)
    message = str(info.value)
    assert '3 iterations in a row' in message
    assert 'Largest distillation loss: distill.loss_feat' in message


def test_nonfinite_grad_norms_warn(tmp_path):
    ckpt = train_teacher(tmp_path)
    runner = build(huge_weight_cfg(tmp_path, ckpt, on_nonfinite_grad='warn',
                                   nonfinite_grad_patience=2))
    warnings = []
    runner.logger.warning = warnings.append
    runner.train()
    assert runner.epoch == 2
    grad_warnings = [w for w in warnings if 'gradient norm' in w]
    assert len(grad_warnings) == 4  # every 2 of the 8 iterations
    assert 'distill.loss_feat' in grad_warnings[0]


def test_nonfinite_grad_bad_setting(tmp_path):
    ckpt = train_teacher(tmp_path)
    with pytest.raises(ValueError, match='on_nonfinite_grad'):
        build(huge_weight_cfg(tmp_path, ckpt, on_nonfinite_grad='ignore'))


# --------------------------------------------------------- 3. exact resume
def resume_cfg(tmp_path, ckpt, distill: bool, by_epoch: bool) -> dict:
    cfg = make_cfg(tmp_path, ckpt, epochs=2)
    cfg['train_dataloader']['dataset'] = dict(type='FlipToyDataset')
    cfg['randomness'] = dict(seed=0, deterministic=True)
    if not by_epoch:
        cfg['train_cfg'] = dict(by_epoch=False, max_iters=8)
        cfg['default_hooks']['checkpoint'] = dict(
            type='CheckpointHook', interval=4, by_epoch=False)
        # MGD's random masks draw from torch's generator in the training
        # step, which the resumed loop does not replay when it skips the
        # batches it already trained on
        cfg['distill']['losses']['mgd'] = dict(
            type='MGDLoss', student='backbone', teacher='backbone')
    if not distill:
        del cfg['distill']
    return cfg


@pytest.mark.parametrize('distill, by_epoch', [
    (True, True), (False, True), (True, False)])
def test_resume_is_exact_with_random_augmentation(tmp_path, distill,
                                                  by_epoch):
    """2 epochs in one go = 1 epoch + resume, through tools/train.py's
    runner, with random flips in the pipeline."""
    ckpt = train_teacher(tmp_path)

    def run(name, stop=None, resume_from=None):
        cfg = Config(resume_cfg(tmp_path / name, ckpt, distill, by_epoch))
        if stop:
            cfg.train_cfg.update(stop)
        if resume_from:
            cfg.resume, cfg.load_from = True, resume_from
        runner = build_runner(cfg)
        log = LossLog()
        runner.register_hook(log)
        runner.train()
        return runner, log.losses

    full, full_losses = run('full')
    part, _ = run('part', dict(max_epochs=1) if by_epoch else
                  dict(max_iters=4))
    name = 'epoch_1.pth' if by_epoch else 'iter_4.pth'
    resumed, resumed_losses = run('part', resume_from=osp.join(
        part.work_dir, name))
    assert resumed.iter == full.iter == 8
    assert resumed_losses == full_losses[4:]
    full_state = full.model.state_dict()
    for k, v in resumed.model.state_dict().items():
        assert torch.equal(v, full_state[k]), k


# -------------------------------------------- 4. the teacher's preprocessing
def teacher_pre_cfg(tmp_path, ckpt, student_pre=None, teacher_pre=None):
    cfg = make_cfg(tmp_path, ckpt, epochs=1)
    cfg['model'] = dict(type='ToyNetPre', width=4,
                        data_preprocessor=student_pre)
    cfg['distill']['teacher']['config'] = dict(model=dict(
        type='ToyNetPre', width=8, data_preprocessor=teacher_pre))
    return cfg


BGR = dict(type='ImgDataPreprocessor', mean=[0.5, -0.2, 0.1],
           std=[2.0, 3.0, 4.0], bgr_to_rgb=True)


def recorded_teacher_features(runner):
    """One training step: the batch, the teacher features the loss got and
    the calls of the teacher's data preprocessor."""
    model = runner.model
    pre_calls = []
    model.teacher.data_preprocessor.register_forward_hook(
        lambda *a: pre_calls.append(1))
    batch = next(iter(runner.train_dataloader))
    model.train_step(batch, runner.optim_wrapper)
    features = model.teacher_recorder.get(model.teacher_specs['feat'])
    return batch, features, pre_calls


def test_teacher_gets_its_own_preprocessing(tmp_path):
    ckpt = train_teacher(tmp_path)
    runner = build(teacher_pre_cfg(tmp_path, ckpt, teacher_pre=BGR))
    runner.train()
    model = runner.model
    assert 'type (ImgDataPreprocessor)' in model.teacher_preprocessing
    batch, features, _ = recorded_teacher_features(runner)
    # the teacher alone on the same images
    alone = model.teacher.backbone(
        model.teacher.data_preprocessor(batch, False)['inputs'])
    assert torch.allclose(features, alone, atol=1e-6)


def test_teacher_preprocessing_differences_and_no_extra_work(tmp_path):
    ckpt = train_teacher(tmp_path)
    other_std = dict(BGR, std=[1.0, 1.0, 1.0])
    runner = build(teacher_pre_cfg(tmp_path, ckpt, student_pre=other_std,
                                   teacher_pre=BGR))
    runner.train()
    assert runner.model.teacher_preprocessing == ['std']
    runner = build(teacher_pre_cfg(tmp_path / 'same', ckpt,
                                   student_pre=BGR, teacher_pre=BGR))
    runner.train()
    assert runner.model.teacher_preprocessing == []
    batch, features, pre_calls = recorded_teacher_features(runner)
    assert pre_calls == []  # the student's batch is used as it is
    model = runner.model
    alone = model.teacher.backbone(
        model.teacher.data_preprocessor(batch, False)['inputs'])
    assert torch.allclose(features, alone, atol=1e-6)


# ------------------------------------------------------------- 5. messages
def test_recipe_without_teacher_config_says_what_to_add(tmp_path):
    cfg = make_cfg(tmp_path, train_teacher(tmp_path))
    cfg['distill']['teacher'] = dict(config=None, checkpoint=None)
    with pytest.raises(ValueError, match='distill.teacher.config is not set'
                       ) as info:
        build(cfg).train()
    assert 'distill = dict(teacher=dict(config=' in str(info.value)


def test_zero_loss_weights_skip_the_teacher(tmp_path):
    ckpt = train_teacher(tmp_path)
    cfg = make_cfg(tmp_path, ckpt, epochs=1, losses=dict(
        feat=dict(type='MSELoss', loss_weight=0.0, student='backbone',
                  teacher='backbone')))
    # its own message hub (runners made in the same second share one)
    cfg['experiment_name'] = f'zero_weights_{tmp_path.name}'
    runner = build(cfg)
    calls = []

    class CountTeacher(Hook):

        def before_train(self, runner):
            runner.model.teacher.register_forward_pre_hook(
                lambda *a: calls.append(1))

    runner.register_hook(CountTeacher())
    runner.train()
    assert runner.iter == 4 and calls == []
    assert 'train/distill.loss_feat' not in runner.message_hub.log_scalars


def test_nan_message_gives_student_shape_before_and_after_connector(
        tmp_path):
    ckpt = train_teacher(tmp_path)
    losses = dict(bad=dict(type='NaNAfter', after=2, student='backbone',
                           teacher='backbone'))
    runner = build(make_cfg(tmp_path, ckpt, losses=losses))
    with pytest.raises(DistillLossError) as info:
        runner.train()
    message = str(info.value)
    assert ('student backbone:output Tensor(4, 4, 8, 8), Tensor(4, 8, 8, 8) '
            'after the ConvConnector; teacher backbone:output '
            'Tensor(4, 8, 8, 8)') in message


# ---------------------------------------------------- 6. safe checkpoints
class WritesAFile:
    """Pickles as a call that creates ``path`` when unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return builtins.open, (self.path, 'w')


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    target = tmp_path / 'written_by_the_checkpoint'
    ckpt = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict=ToyNet(8).state_dict(),
                    meta=WritesAFile(str(target))), ckpt)
    with pytest.raises(ValueError, match='was not loaded') as info:
        load_state_dict_from(ckpt)
    assert 'it pickles io.open' in str(info.value)  # builtins.open
    assert 'weights_only=False' in str(info.value)  # how to convert it
    cfg = make_cfg(tmp_path, ckpt)  # as a teacher, and as student_init
    with pytest.raises(ValueError, match='teacher checkpoint'):
        build(cfg).train()
    cfg = make_cfg(tmp_path, train_teacher(tmp_path),
                   student_init=dict(checkpoint=ckpt))
    with pytest.raises(ValueError, match='student_init checkpoint'):
        build(cfg).train()
    assert not target.exists()


def mmengine_checkpoint(path) -> str:
    """A checkpoint as mmengine 0.10.7 writes it: a message hub with
    HistoryBuffers, numpy scalars and arrays in the meta."""
    hub = MessageHub('ckpt_test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/lr', np.float32(0.01))
    hub.update_info('iter', np.int64(3))
    torch.save(dict(
        meta=dict(seed=np.int64(0), epoch=1, iter=3,
                  dataset_meta=dict(classes=('a', 'b'),
                                    palette=np.zeros((2, 3), np.uint8))),
        state_dict=ToyNet(8).state_dict(), message_hub=hub.state_dict(),
        optimizer=dict(state={}, param_groups=[])), path)
    return str(path)


def test_mmengine_checkpoint_with_message_hub_loads(tmp_path):
    ckpt = mmengine_checkpoint(tmp_path / 'mmengine.pth')
    state = load_state_dict_from(ckpt)
    assert set(state) == set(ToyNet(8).state_dict())


@pytest.mark.parametrize('first', ['torch', 'mmengine.logging'])
def test_start_up_hook_lets_torch_load_mmengine_checkpoints(tmp_path, first):
    """What mmdet's own tools/test.py does (torch.load, weights_only by
    default) on an mmengine checkpoint, with the start-up hook active;
    code in a checkpoint is still refused."""
    ckpt = mmengine_checkpoint(tmp_path / 'mmengine.pth')
    target = tmp_path / 'written'
    evil = str(tmp_path / 'evil.pth')
    torch.save(dict(x=WritesAFile(str(target))), evil)
    hook = osp.join(REPO, 'mmkd', 'utils', 'scope_hook.py')
    second = 'mmengine.logging' if first == 'torch' else 'torch'
    code = (
        'import importlib.util as u, pickle\n'
        f's = u.spec_from_file_location("mmkd_scope_hook", {hook!r})\n'
        'm = u.module_from_spec(s); s.loader.exec_module(m); m.activate()\n'
        f'import {first}, {second}\n'
        'import torch\n'
        f'ck = torch.load({ckpt!r})\n'
        "print(type(ck['message_hub']['log_scalars']['train/loss']).__name__,"
        " ck['message_hub']['log_scalars']['train/loss'].current())\n"
        'try:\n'
        f'    torch.load({evil!r})\n'
        'except pickle.UnpicklingError:\n'
        '    print("refused")\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ['HistoryBuffer', '1.5', 'refused']
    assert not target.exists()


# ------------------------------------------- 7. no connector between logits
@pytest.mark.parametrize('loss', [
    dict(type='KDLoss'),
    dict(type='ChannelWiseDivergence', on_logits=True)])
def test_auto_connector_refused_between_class_distributions(tmp_path, loss):
    ckpt = train_teacher(tmp_path)
    losses = dict(logits=dict(loss, student='backbone', teacher='backbone'))
    runner = build(make_cfg(tmp_path, ckpt, losses=losses))
    with pytest.raises(ValueError) as info:
        runner.train()
    message = str(info.value)
    assert 'distributions over classes' in message
    assert 'has 4 where the teacher backbone:output has 8' in message
    assert 'distill.teacher.cfg_options' in message


def test_auto_connector_kept_for_cwd_on_features(tmp_path):
    ckpt = train_teacher(tmp_path)
    losses = dict(feat=dict(type='ChannelWiseDivergence', student='backbone',
                            teacher='backbone'))
    runner = build(make_cfg(tmp_path, ckpt, epochs=1, losses=losses))
    runner.train()
    assert type(runner.model.connectors['feat']).__name__ == 'ConvConnector'

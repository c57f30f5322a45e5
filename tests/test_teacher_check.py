"""The teacher check (issue 21): every training sample out of scale in a
teacher's recorded maps is named, and the results zoo stops before any
student trains from such a teacher."""
import json
import os.path as osp
import sys

import pytest

from conftest import REPO
from mmkd.analysis import OutOfScale, check_teacher
from test_distill_runner import build, train_teacher
from test_kd_doctor import BlowUpToyDataset, toy_cfg  # noqa: F401

sys.path.insert(0, osp.join(REPO, 'tools'))
import zoo  # noqa: E402


def set_up(tmp_path, dataset: str):
    tmp_path.mkdir()
    cfg = toy_cfg(tmp_path, train_teacher(tmp_path), epochs=1,
                  diagnose=False)
    cfg['train_dataloader']['dataset'] = dict(type=dataset)
    runner = build(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.model.setup(runner._probe_batch())
    return runner


def test_check_teacher_names_every_sample_out_of_scale(tmp_path):
    """Sample 13 of 16 (1000x the input) is found, with its ratio to the
    median position of all samples, and nothing else is; the plain data
    has no sample out of scale."""
    runner = set_up(tmp_path / 'blow', 'BlowUpToyDataset')
    batches = runner._probe_batches(16)
    found = check_teacher(runner.model, batches)
    assert [(o.loss, o.sample) for o in found] == [('feat', 13)]
    assert found[0].spec == 'backbone:output'
    assert found[0].image_ratio > 100 and found[0].peak_ratio > 100
    assert 'feat (backbone:output): sample 13 median position' in str(
        found[0])
    plain = set_up(tmp_path / 'plain', 'ToyDataset')
    assert check_teacher(plain.model, plain._probe_batches(16)) == []
    # a stricter threshold finds more: the ratios are really compared
    assert len(check_teacher(plain.model, plain._probe_batches(16),
                             image_ratio=1.01, peak_ratio=1.01)) > 0


def test_check_teacher_needs_a_set_up_model(tmp_path):
    cfg = toy_cfg(tmp_path, train_teacher(tmp_path), epochs=1)
    with pytest.raises(RuntimeError, match='set-up DistillModel'):
        check_teacher(build(cfg).model, [])


def test_zoo_stops_before_students_on_a_teacher_out_of_scale(
        tmp_path, monkeypatch):
    """The zoo's gate exits naming the samples and keeps the result; a
    second call reads it back without scanning again; a clean teacher
    passes."""
    found = [OutOfScale('fgd_fpn2', 'neck:output[2]', 22, 'a/shapes_22.png',
                        24.9, 56.0, (2, 1))]
    calls = []

    def fake_check(cfg_path, options, data):
        calls.append(cfg_path)
        return found

    monkeypatch.setattr(zoo, 'check_family_teacher', fake_check)
    family = dict(distilled='configs/zoo/rtmdet_student_quarter_fgd.py')
    out = str(tmp_path / 'det_fgd' / 'teacher_check_seed0.json')
    options = {'distill.teacher.checkpoint': 't.pth'}
    for _ in range(2):
        with pytest.raises(SystemExit) as e:
            zoo.teacher_gate(family, options, 'shapes', out)
        assert 'out of scale on 1 (loss, sample) pairs' in str(e.value)
        assert 'sample 22 (a/shapes_22.png) median position 24.9x' in str(
            e.value)
        assert '--skip-teacher-check' in str(e.value)
    assert len(calls) == 1
    assert json.load(open(out))['teacher'] == 't.pth'
    found = []
    out2 = str(tmp_path / 'clean.json')
    assert zoo.teacher_gate(family, options, 'shapes', out2) == []


def test_zoo_checks_the_teacher_before_any_student(tmp_path, monkeypatch):
    """In ``tools/zoo.py FAMILY``: the teacher trains, its check fails, and
    no student (plain or distilled) is trained; with
    ``--skip-teacher-check`` they are."""
    calls = []

    def fake_run(cfg_path, work_dir, seed, options=None, data='shapes'):
        calls.append(osp.relpath(work_dir, tmp_path))
        return dict(metrics={'coco/bbox_mAP': 0.3}, iter_time=0.1,
                    minutes=1.0, checkpoint=f'{work_dir}/epoch_24.pth')

    checked = []

    def fake_check(cfg_path, options, data):
        checked.append((cfg_path, options['distill.teacher.checkpoint']))
        return [OutOfScale('fgd_fpn2', 'neck:output[2]', 3, None, 9.0, 30.0,
                           (0, 0))]

    monkeypatch.setattr(zoo, 'train_and_test', fake_run)
    monkeypatch.setattr(zoo, 'check_family_teacher', fake_check)
    argv = ['zoo.py', 'det_fgd', '--seeds', '0', '1', '--work-dir',
            str(tmp_path), '--data-root', str(tmp_path / 'no_data')]
    monkeypatch.setattr(sys, 'argv', argv)
    with pytest.raises(SystemExit, match='sample 3 median position 9.0x'):
        zoo.main()
    assert calls == ['det_pkd/teacher']
    assert checked == [('configs/zoo/rtmdet_student_quarter_fgd.py',
                        str(tmp_path / 'det_pkd/teacher/epoch_24.pth'))]
    monkeypatch.setattr(sys, 'argv', argv + ['--skip-teacher-check'])
    zoo.main()
    assert 'det_fgd/distilled_seed1' in calls
    assert len(checked) == 1

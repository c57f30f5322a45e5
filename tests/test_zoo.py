"""tools/zoo.py: the paired statistics, and the table built from runs that
were done before (each run's ``zoo_result.json``), so that a zoo can be
stopped and continued without training anything twice."""
import copy
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools'))
import zoo  # noqa: E402


def test_paired_stats_hand_computed():
    plain = [0.20, 0.25, 0.18]
    distilled = [0.24, 0.27, 0.23]
    stats = zoo.paired_stats(plain, distilled)
    diffs = [0.04, 0.02, 0.05]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    assert stats['diffs'] == pytest.approx(diffs)
    assert stats['mean'] == pytest.approx(mean)
    assert stats['se'] == pytest.approx(sd / math.sqrt(3))
    assert stats['t'] == pytest.approx(mean / (sd / math.sqrt(3)))


def _write_result(work_dir, mAP, iter_time=0.5, key='coco/bbox_mAP'):
    work_dir.mkdir(parents=True)
    (work_dir / 'zoo_result.json').write_text(json.dumps(dict(
        metrics={key: mAP}, iter_time=iter_time, minutes=1.0,
        checkpoint=str(work_dir / 'epoch_1.pth'), seed=0, config='x.py',
        options={})))


def test_zoo_table_from_finished_runs(tmp_path):
    root = tmp_path / 'zoo' / 'det_pkd'
    _write_result(root / 'teacher', 0.40, 0.9)
    plain = {0: 0.20, 1: 0.30, 2: 0.25}
    gain = {0: 0.03, 1: 0.01, 2: 0.05}
    for seed, value in plain.items():
        _write_result(root / f'student_seed{seed}', value, 0.4)
        _write_result(root / f'distilled_seed{seed}', value + gain[seed], 0.6)
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/zoo.py'), 'det_pkd',
         '--seeds', '0', '1', '2', '--work-dir', str(tmp_path / 'zoo'),
         '--data-root', str(tmp_path / 'no_data')],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    table = (root / 'results.md').read_text()
    assert table in out.stdout
    assert '| teacher (seed 0) | 0.400 |' in table
    assert '| student | 0.250 | 0.050 |' in table
    # paired: mean 0.03, sd 0.02, SE 0.0115, t 2.6
    assert '| student + PKD | 0.280 | 0.044 | +0.030 +- 0.012 (2.6) |' in table
    assert 'gain > 2 SE: yes' in table
    assert 'tools/zoo.py det_pkd --seeds 0 1 2' in table
    # the hint that puts the runs into the docs
    assert f'python tools/zoo.py --write-docs --work-dir {tmp_path / "zoo"}' \
        in out.stdout
    assert osp.getsize(root / 'paired.png') > 1000
    assert not osp.exists(tmp_path / 'no_data')  # nothing was trained


@pytest.mark.parametrize('family', sorted(zoo.FAMILIES))
def test_zoo_family_configs_load(family):
    """Each family's three configs load; the distilled one is the plain
    student plus a ``distill`` dict, and the students see less data than the
    teacher."""
    from mmkd.models.teacher import load_config
    spec = zoo.FAMILIES[family]
    if spec['teacher'] is None:  # self-distillation: the test below
        return
    cfgs = {k: load_config(osp.join(REPO, spec[k]), 'train')
            for k in ('teacher', 'student', 'distilled')}
    assert 'distill' not in cfgs['student']
    assert cfgs['distilled'].distill.losses
    assert cfgs['distilled'].model == cfgs['student'].model
    if 'after' not in spec:  # DWPose stage 2: a fifth of stage 1's epochs
        assert cfgs['distilled'].train_cfg == cfgs['student'].train_cfg
    ds = {k: c.train_dataloader.dataset for k, c in cfgs.items()}
    assert ds['teacher'].get('indices') is None
    # a quarter of the teacher's images (320 shapes scenes, 4000 images,
    # 64 point clouds) or persons (547)
    quarter = dict(cls=1000, shapes=80, kitti=16)[spec.get('data', 'shapes')]
    if family.startswith('pose'):
        quarter = 137
    assert ds['student'].indices == ds['distilled'].indices == quarter
    teacher_ckpt = cfgs['distilled'].distill.teacher.checkpoint
    # a family sharing another's teacher and students reads its checkpoint
    # (stage 2: its teacher is the stage-1 student)
    teacher_family = spec.get('shares', family)
    run = 'distilled_seed0' if 'after' in spec else 'teacher'
    assert f'work_dirs/zoo/{teacher_family}/{run}/' in teacher_ckpt


@pytest.mark.parametrize('family', ['det_dfine_fdr', 'det_dfine_golsd'])
def test_dfine_families_differ_only_in_the_dfine_head(family):
    """D-FINE's rows (no teacher): plain and distilled train the same DINO
    on the same data for the same schedule; only the head's D-FINE parts
    differ (FDR: the D-FINE head without DDF, on the union set; GO-LSD:
    DDF on top)."""
    from mmkd.models.teacher import load_config
    spec = zoo.FAMILIES[family]
    assert spec['teacher'] is None
    plain, distilled = (load_config(osp.join(REPO, spec[k]), 'train')
                        for k in ('student', 'distilled'))
    for key in ('train_cfg', 'param_scheduler', 'optim_wrapper',
                'train_dataloader', 'randomness'):
        assert plain.get(key) == distilled.get(key), key
    assert distilled.model.bbox_head.type == 'mmkd.DFineDINOHead'
    assert distilled.model.backbone == plain.model.backbone
    assert distilled.model.num_queries == plain.model.num_queries == 30
    if family == 'det_dfine_fdr':
        assert plain.model.type == 'DINO'
        assert distilled.model.bbox_head.loss_ddf is None
        assert distilled.model.bbox_head.union_matching is True
    else:
        assert plain.model.bbox_head.loss_ddf is None
        assert distilled.model.bbox_head.loss_ddf == dict(
            type='mmkd.DDFLoss', temperature=5.0, loss_weight=1.5)
        assert plain.model.bbox_head.union_matching is True
        assert distilled.model.bbox_head.union_matching is True


@pytest.mark.parametrize('family', ['cls_pskd', 'cls_uskd', 'cls_byot',
                                    'seg_dsd'])
def test_self_distillation_families_add_only_the_recipe(family):
    """PS-KD, USKD, BYOT and DSD rows (no teacher): the self-distilled
    config is the plain one plus ``distill`` (self_distill, no teacher),
    the same model, data and schedule; BYOT also weights the head's own
    cross entropy 1 - alpha, as the official code does."""
    from mmkd.models.teacher import load_config
    spec = zoo.FAMILIES[family]
    assert spec['teacher'] is None
    plain, distilled = (load_config(osp.join(REPO, spec[k]), 'train')
                        for k in ('student', 'distilled'))
    for key in ('train_cfg', 'param_scheduler', 'optim_wrapper',
                'train_dataloader', 'val_dataloader', 'randomness'):
        assert plain.get(key) == distilled.get(key), key
    assert 'distill' not in plain and distilled.distill.self_distill
    assert distilled.distill.get('teacher') is None
    assert distilled.distill.losses
    model = copy.deepcopy(distilled.model)
    if family == 'cls_byot':
        assert model.head.loss.loss_weight == 0.9
        model.head.loss.loss_weight = plain.model.head.loss.get(
            'loss_weight', 1.0)
    assert model == plain.model


def test_self_distillation_table_has_no_teacher(tmp_path):
    """det_dfine_golsd: no teacher run or row; its plain rows are
    det_dfine_fdr's distilled runs (DINO + FDR)."""
    fdr, golsd = tmp_path / 'zoo' / 'det_dfine_fdr', \
        tmp_path / 'zoo' / 'det_dfine_golsd'
    for seed, (plain, distilled) in enumerate([(0.10, 0.12), (0.14, 0.15)]):
        _write_result(fdr / f'distilled_seed{seed}', plain, 1.1)
        _write_result(golsd / f'distilled_seed{seed}', distilled, 1.2)
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/zoo.py'), 'det_dfine_golsd',
         '--seeds', '0', '1', '--work-dir', str(tmp_path / 'zoo'),
         '--data-root', str(tmp_path / 'no_data')],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    table = (golsd / 'results.md').read_text()
    assert 'teacher' not in table
    assert '| DINO + FDR | 0.120 | 0.028 |' in table
    # diffs 0.02, 0.01: mean 0.015, SE 0.005, t 3.0
    assert '| DINO + FDR + GO-LSD | 0.135 | 0.021 | +0.015 +- 0.005 (3.0) |' \
        in table
    assert 'median s/iter: DINO + FDR 1.100, DINO + FDR + GO-LSD 1.200' \
        in table
    assert not osp.exists(tmp_path / 'no_data')


def test_family_sharing_teacher_and_students(tmp_path):
    """cls_dkd reads cls_kd's teacher and plain students and trains only
    its distilled students."""
    kd, dkd = tmp_path / 'zoo' / 'cls_kd', tmp_path / 'zoo' / 'cls_dkd'
    _write_result(kd / 'teacher', 76.0, 0.2, 'accuracy/top1')
    for seed, (plain, distilled) in enumerate([(30., 60.), (34., 62.)]):
        _write_result(kd / f'student_seed{seed}', plain, 0.1,
                      'accuracy/top1')
        _write_result(dkd / f'distilled_seed{seed}', distilled, 0.15,
                      'accuracy/top1')
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/zoo.py'), 'cls_dkd',
         '--seeds', '0', '1', '--work-dir', str(tmp_path / 'zoo'),
         '--data-root', str(tmp_path / 'no_data')],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    table = (dkd / 'results.md').read_text()
    assert '| teacher (seed 0) | 76.000 |' in table
    assert '| student + DKD | 61.000 | 1.414 | +29.000 +- 1.000 (29.0) |' \
        in table
    assert not osp.exists(kd / 'results.md')


def test_teacher_of_another_seed(tmp_path, monkeypatch):
    """det_cwd_teacher2: the teacher trained with seed 2 in its own run dir
    (det_pkd/teacher_seed2) teaches every distilled student; the plain
    students are det_pkd's, as for det_cwd."""
    calls = []

    def fake_run(cfg_path, work_dir, seed, options=None, data='shapes'):
        calls.append((cfg_path, osp.relpath(work_dir, tmp_path), seed,
                      dict(options or {})))
        value = 0.6 if 'teacher' in cfg_path else 0.2
        return dict(metrics={'coco/bbox_mAP': value}, iter_time=0.1,
                    minutes=1.0, checkpoint=f'{work_dir}/epoch_24.pth')

    monkeypatch.setattr(zoo, 'train_and_test', fake_run)
    # a teacher that passes the check (tests/test_teacher_check.py)
    monkeypatch.setattr(zoo, 'check_family_teacher', lambda *a: [])
    monkeypatch.setattr(sys, 'argv', [
        'zoo.py', 'det_cwd_teacher2', '--seeds', '0', '1', '--work-dir',
        str(tmp_path), '--data-root', str(tmp_path / 'no_data')])
    zoo.main()
    runs = {work_dir: (cfg, seed, opts) for cfg, work_dir, seed, opts in calls}
    assert runs['det_pkd/teacher_seed2'] == (
        'configs/zoo/rtmdet_teacher_24e.py', 2, {})
    assert 'det_pkd/teacher' not in runs
    teacher = str(tmp_path / 'det_pkd/teacher_seed2/epoch_24.pth')
    for seed in (0, 1):
        assert runs[f'det_pkd/student_seed{seed}'][1:] == (seed, {})
        cfg, run_seed, opts = runs[f'det_cwd_teacher2/distilled_seed{seed}']
        assert cfg.endswith('_cwd.py') and run_seed == seed
        assert opts == {'distill.teacher.checkpoint': teacher}
    table = (tmp_path / 'det_cwd_teacher2' / 'results.md').read_text()
    assert '| teacher (seed 2) | 0.600 |' in table


def test_students_from_a_pretrained_backbone(tmp_path, monkeypatch):
    """pose_dwpose_s1_pre: the pretraining config is trained once (seed 0,
    in the family's dir) and both students of every seed start their
    backbone from its checkpoint; the teacher is pose_dwpose_s1's, the plain
    students are the family's own."""
    calls = []

    def fake_run(cfg_path, work_dir, seed, options=None, data='shapes'):
        calls.append((cfg_path, osp.relpath(work_dir, tmp_path), seed,
                      dict(options or {})))
        return dict(metrics={'coco/AP': 0.3}, iter_time=0.1, minutes=1.0,
                    checkpoint=f'{work_dir}/last.pth')

    monkeypatch.setattr(zoo, 'train_and_test', fake_run)
    # a teacher that passes the check (tests/test_teacher_check.py)
    monkeypatch.setattr(zoo, 'check_family_teacher', lambda *a: [])
    monkeypatch.setattr(sys, 'argv', [
        'zoo.py', 'pose_dwpose_s1_pre', '--seeds', '0', '1', '--work-dir',
        str(tmp_path), '--data-root', str(tmp_path / 'no_data')])
    zoo.main()
    runs = {work_dir: (cfg, seed, opts) for cfg, work_dir, seed, opts in calls}
    assert [c[1] for c in calls].count('pose_dwpose_s1_pre/pretrain') == 1
    assert runs['pose_dwpose_s1_pre/pretrain'][:2] == (
        'configs/zoo/cspnext_tiny_det_pretrain.py', 0)
    backbone = {'model.backbone.init_cfg.checkpoint':
                str(tmp_path / 'pose_dwpose_s1_pre/pretrain/last.pth')}
    teacher = str(tmp_path / 'pose_dwpose_s1/teacher/last.pth')
    for seed in (0, 1):
        cfg, run_seed, opts = runs[f'pose_dwpose_s1_pre/student_seed{seed}']
        assert cfg.endswith('_quarter_pre.py') and run_seed == seed
        assert opts == backbone
        cfg, run_seed, opts = runs[f'pose_dwpose_s1_pre/distilled_seed{seed}']
        assert cfg.endswith('_pre_dwpose_s1.py') and run_seed == seed
        assert opts == {**backbone, 'distill.teacher.checkpoint': teacher}


def test_pretrained_detection_backbone_loads_into_rtmpose(tmp_path):
    """The pretraining config's RTMDet holds RTMPose-t's backbone: its
    ``backbone.`` weights load into the pose student through the config's
    ``init_cfg`` (mmengine's Pretrained init), every tensor equal."""
    pytest.importorskip('mmpose')
    from mmengine.registry import DefaultScope

    from mmkd.models.teacher import load_config
    det_cfg = load_config(
        osp.join(REPO, 'configs/zoo/cspnext_tiny_det_pretrain.py'), 'train')
    pose_cfg = load_config(
        osp.join(REPO, 'configs/zoo/rtmpose_t_student_quarter_pre.py'),
        'train')
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import MODELS as DET_MODELS
        torch.manual_seed(1)
        det = DET_MODELS.build(det_cfg.model)
    ckpt = tmp_path / 'pretrain.pth'
    torch.save(dict(state_dict=det.state_dict()), str(ckpt))
    pose_cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    with DefaultScope.overwrite_default_scope('mmpose'):
        from mmpose.registry import MODELS as POSE_MODELS
        torch.manual_seed(2)
        pose = POSE_MODELS.build(pose_cfg.model)
        pose.init_weights()
    det_backbone = det.backbone.state_dict()
    pose_backbone = pose.backbone.state_dict()
    assert sorted(det_backbone) == sorted(pose_backbone)
    for k, v in det_backbone.items():
        assert torch.equal(pose_backbone[k], v), k


def test_stage2_starts_from_the_same_seeds_stage1(tmp_path, monkeypatch):
    """pose_dwpose_s2: each seed's stage 2 starts from (and is taught by)
    the same seed's stage-1 student, trained first; the teacher and the
    plain students are pose_dwpose_s1's."""
    calls = []

    def fake_run(cfg_path, work_dir, seed, options=None, data='shapes'):
        calls.append((cfg_path, osp.relpath(work_dir, tmp_path), seed,
                      dict(options or {})))
        value = 0.5 if 'dwpose' in cfg_path else 0.4
        return dict(metrics={'coco/AP': value}, iter_time=0.1, minutes=1.0,
                    checkpoint=f'{work_dir}/last.pth')

    monkeypatch.setattr(zoo, 'train_and_test', fake_run)
    # a teacher that passes the check (tests/test_teacher_check.py)
    monkeypatch.setattr(zoo, 'check_family_teacher', lambda *a: [])
    monkeypatch.setattr(sys, 'argv', [
        'zoo.py', 'pose_dwpose_s2', '--seeds', '3', '4', '--work-dir',
        str(tmp_path), '--data-root', str(tmp_path / 'no_data')])
    zoo.main()
    runs = {work_dir: (cfg, seed, opts) for cfg, work_dir, seed, opts in calls}
    assert sorted(runs) == sorted(
        ['pose_dwpose_s1/teacher'] +
        [f'pose_dwpose_s1/{run}_seed{seed}' for seed in (3, 4)
         for run in ('student', 'distilled')] +
        [f'pose_dwpose_s2/distilled_seed{seed}' for seed in (3, 4)])
    pose_teacher = str(tmp_path / 'pose_dwpose_s1/teacher/last.pth')
    for seed in (3, 4):
        assert runs[f'pose_dwpose_s1/student_seed{seed}'][1:] == (seed, {})
        stage1 = runs[f'pose_dwpose_s1/distilled_seed{seed}']
        assert stage1[0].endswith('_dwpose_s1.py') and stage1[1] == seed
        assert stage1[2] == {'distill.teacher.checkpoint': pose_teacher}
        stage2 = runs[f'pose_dwpose_s2/distilled_seed{seed}']
        stage1_ckpt = str(tmp_path /
                          f'pose_dwpose_s1/distilled_seed{seed}/last.pth')
        assert stage2[0].endswith('_dwpose_s2.py') and stage2[1] == seed
        assert stage2[2] == {'distill.teacher.checkpoint': stage1_ckpt,
                             'distill.student_init.checkpoint': stage1_ckpt}
    # stage 1 of a seed comes before its stage 2
    order = [work_dir for _, work_dir, _, _ in calls]
    assert order.index('pose_dwpose_s1/distilled_seed3') < \
        order.index('pose_dwpose_s2/distilled_seed3')
    table = (tmp_path / 'pose_dwpose_s2' / 'results.md').read_text()
    assert '| student + DWPose s1+s2 | 0.500 |' in table


def test_a_run_in_progress_elsewhere_is_waited_for(tmp_path):
    """Two zoo processes on overlapping seeds: the second waits for the
    run the first holds and reads its result instead of training it."""
    import fcntl
    import threading
    work_dir = tmp_path / 'student_seed0'
    work_dir.mkdir()
    lock = open(work_dir / 'zoo.lock', 'w')
    fcntl.flock(lock, fcntl.LOCK_EX)  # "another process" trains it
    got = {}
    waiter = threading.Thread(target=lambda: got.update(zoo.train_and_test(
        'configs/does_not_exist.py', str(work_dir), 0)))
    waiter.start()
    waiter.join(timeout=2)
    assert waiter.is_alive() and not got  # waiting, not training
    (work_dir / 'zoo_result.json').write_text(json.dumps(dict(
        metrics={'coco/bbox_mAP': 0.3}, checkpoint='x.pth')))
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    waiter.join(timeout=30)
    assert got['metrics'] == {'coco/bbox_mAP': 0.3}

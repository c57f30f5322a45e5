"""tools/zoo.py: the paired statistics, and the table built from runs that
were done before (each run's ``zoo_result.json``), so that a zoo can be
stopped and continued without training anything twice."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest

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
    assert osp.getsize(root / 'paired.png') > 1000
    assert not osp.exists(tmp_path / 'no_data')  # nothing was trained


@pytest.mark.parametrize('family', sorted(zoo.FAMILIES))
def test_zoo_family_configs_load(family):
    """Each family's three configs load; the distilled one is the plain
    student plus a ``distill`` dict, and the students see less data than the
    teacher."""
    from mmkd.models.teacher import load_config
    spec = zoo.FAMILIES[family]
    cfgs = {k: load_config(osp.join(REPO, spec[k]), 'train')
            for k in ('teacher', 'student', 'distilled')}
    assert 'distill' not in cfgs['student']
    assert cfgs['distilled'].distill.losses
    assert cfgs['distilled'].model == cfgs['student'].model
    assert cfgs['distilled'].train_cfg == cfgs['student'].train_cfg
    ds = {k: c.train_dataloader.dataset for k, c in cfgs.items()}
    assert ds['teacher'].get('indices') is None
    # a quarter of the teacher's images (320 shapes scenes, 4000 images,
    # 64 point clouds)
    quarter = dict(cls=1000, shapes=80, kitti=16)[spec.get('data', 'shapes')]
    assert ds['student'].indices == ds['distilled'].indices == quarter
    teacher_ckpt = cfgs['distilled'].distill.teacher.checkpoint
    # a family sharing another's teacher and students reads its checkpoint
    teacher_family = spec.get('shares', family)
    assert f'work_dirs/zoo/{teacher_family}/teacher/' in teacher_ckpt


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

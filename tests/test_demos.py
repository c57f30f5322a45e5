"""The README's main job (`make demo` = tools/demos/kd_demo.py), shortened to
one epoch per model: it trains the teacher, the student alone and the
student with PKD through real Runners, evaluates each with the COCO metric,
and writes the results table and the loss plot."""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

from conftest import REPO


def test_kd_demo_one_epoch(tmp_path):
    work = tmp_path / 'demo'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/demos/kd_demo.py'),
         '--epochs', '1', '--work-dir', str(work),
         '--data-root', str(tmp_path / 'data')],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]

    table = (work / 'results.md').read_text().splitlines()
    assert table[0].startswith('| model | bbox mAP | AP50 |')
    rows = {line.split('|')[1].strip(): line for line in table[2:]}
    assert list(rows) == ['teacher', 'student', 'student + PKD']
    for line in rows.values():
        mAP, ap50, iter_time, minutes = (
            float(x) for x in re.findall(r'\| (-?[\d.]+)', line))
        assert 0 <= mAP <= ap50 <= 1 and iter_time > 0 and minutes > 0
    assert (work / 'losses.png').stat().st_size > 10_000
    assert 'mmkd demo: RTMDet' in proc.stdout

    # each run logs into its own folder (mmengine shares one visualizer per
    # name in a process: the demo names them apart); one epoch is 40
    # iterations for the teacher, 10 for the students (a quarter of the data)
    for name in ('teacher', 'student', 'student_pkd'):
        files = glob.glob(str(work / name / '*' / 'vis_data' /
                              'scalars.json'))
        assert len(files) == 1, name
        with open(files[0]) as f:
            records = [json.loads(line) for line in f]
        iters = [r['iter'] for r in records if 'loss' in r]
        assert iters == sorted(set(iters)), (name, iters)
        assert iters[-1] == (40 if name == 'teacher' else 10), (name, iters)
        has_kd = any('distill.loss_pkd_fpn0' in r for r in records)
        assert has_kd == (name == 'student_pkd'), name


def test_pointdistiller_demo_smoke(tmp_path):
    """tools/demos/pointdistiller_demo.py on 4 generated KITTI frames, 3
    epochs per model, one seed: teacher, plain and distilled 4x students
    trained and evaluated with mmdet3d's KittiMetric, and the table."""
    work = tmp_path / 'pd'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/demos/pointdistiller_demo.py'),
         '--work-dir', str(work), '--data-root', str(tmp_path / 'kitti'),
         '--train-frames', '4', '--val-frames', '2', '--teacher-epochs', '3',
         '--student-epochs', '3', '--seeds', '0'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (work / 'results.md').read_text().splitlines()
    assert table[0].startswith('| model | 3D AP40 mod. | BEV AP40 mod. |')
    rows = [line.split('|')[1].strip() for line in table[2:5]]
    assert rows == ['teacher', '4x student', '4x student + PointDistiller']
    for line in table[2:5]:
        ap = [float(x) for x in re.findall(r'\| (-?[\d.]+)', line)[:4]]
        assert all(0 <= a <= 100 for a in ap)
    assert 'distilled - plain (paired' in (work / 'results.md').read_text()
    for name, kd in (('student_seed0', False),
                     ('student_pointdistiller_seed0', True)):
        files = glob.glob(str(work / name / '*' / 'vis_data' /
                              'scalars.json'))
        assert len(files) == 1, name
        text = open(files[0]).read()
        assert ('distill.loss_pointdistiller' in text) == kd, name
        assert osp.isfile(work / name / 'epoch_3.pth')

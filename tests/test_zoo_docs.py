"""tools/zoo_docs.py: the zoo's record (docs/zoo/results.json), its update
from finished runs, and the tables and plots rendered from it; and that the
committed docs are what the committed record renders."""
import json
import os.path as osp
import shutil
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools'))
import zoo_docs  # noqa: E402


def _entry(**kw):
    entry = dict(
        title='PKD on X', method='PKD', metric='coco/bbox_mAP', label='PKD, X',
        teacher=dict(name='teacher (seed 0)', seed=0, value=0.4,
                     iter_time=0.9),
        plain=dict(name='student', seeds=[0, 1, 2], values=[0.20, 0.30, 0.25],
                   iter_time=0.4),
        distilled=[dict(name='student + PKD', suffix='', options={},
                        seeds=[0, 1, 2], values=[0.23, 0.31, 0.30],
                        iter_time=0.6, minutes=12.0,
                        command='python tools/zoo.py x --seeds 0 1 2')])
    entry.update(kw)
    return entry


def test_table_rows():
    table = zoo_docs.render_table('x', _entry()).split('\n')
    assert table[0] == ('| model | bbox mAP mean | std | paired diff +- SE (t) '
                        '| each seed (0-2) |')
    assert table[2] == '| teacher (seed 0) | 0.400 | - |  | 0.400 |'
    assert table[3] == '| student | 0.250 | 0.050 |  | 0.200, 0.300, 0.250 |'
    # diffs 0.03, 0.01, 0.05: mean 0.03, sd 0.02, SE 0.0115, t 2.6
    assert table[4] == ('| student + PKD | 0.280 | 0.044 | +0.030 +- 0.012 '
                        '(2.6) | 0.230, 0.310, 0.300 |')
    assert '![x paired differences](zoo_x_paired.png)' in table
    assert ('- `python tools/zoo.py x --seeds 0 1 2`, 12 min of training in '
            'all (median s/iter x iterations)') in table
    assert table[-1] == ('- median s/iter: teacher (seed 0) 0.9, student 0.4, '
                         'student + PKD 0.6')


def test_table_of_a_percent_metric_with_a_variant_and_no_teacher():
    variant = dict(name='student + KD (kd.loss_weight=1)', suffix='_w1',
                   options={'distill.losses.kd.loss_weight': 1}, seeds=[0, 2],
                   values=[33.0, 36.0], iter_time=None, minutes=None,
                   command='python tools/zoo.py x --seeds 0 2 --cfg-options '
                   'distill.losses.kd.loss_weight=1')
    entry = _entry(
        metric='accuracy/top1', teacher=None,
        plain=dict(name='student', seeds=[0, 2], values=[30.0, 34.0],
                   iter_time=None),
        distilled=[dict(_entry()['distilled'][0], seeds=[0, 2],
                        values=[40.0, 42.0]), variant])
    table = zoo_docs.render_table('x', entry).split('\n')
    assert table[0].startswith('| model | top-1 % mean |')
    assert table[0].endswith('| each seed (0, 2) |')
    assert 'teacher' not in table[2]
    # diffs 10, 8: mean 9, SE 1; the variant's 3, 2: mean 2.5, SE 0.5
    assert table[3] == '| student + PKD | 41.0 | 1.4 | +9.0 +- 1.0 (9.0) | ' \
        '40.0, 42.0 |'
    assert table[4] == ('| student + KD (kd.loss_weight=1) | 34.5 | 2.1 | '
                        '+2.5 +- 0.5 (5.0) | 33.0, 36.0 |')
    assert any(line.startswith('- student + KD (kd.loss_weight=1): `python')
               for line in table)
    assert table[-1] == '- median s/iter: student + PKD 0.6'


def test_summary_rows_and_verdicts():
    worse = _entry(label=None)
    worse['distilled'][0]['values'] = [0.10, 0.12, 0.09]
    even = _entry()
    even['distilled'][0]['values'] = [0.25, 0.28, 0.25]
    lines = zoo_docs.render_summary(
        dict(x=_entry(), y=worse, z=even)).split('\n')
    assert lines[2] == ('| `x` (PKD, X) | bbox mAP | 0.250 | 0.280 | '
                        '+0.030 +- 0.012 (2.6) | yes |')
    assert lines[3].startswith('| `y` | bbox mAP | 0.250 | 0.103 | -0.147')
    assert lines[3].endswith('| no: worse |')
    assert lines[4].endswith('| no |')


def test_summary_names_each_distilled_row_of_a_family():
    """A family with a variant (``--cfg-options``) gets a summary row per
    distilled row, each named by its options."""
    entry = _entry()
    options = {f'distill.losses.pkd_fpn{i}.loss_weight': 10.0
               for i in range(3)}
    entry['distilled'].append(dict(
        entry['distilled'][0], name='student + PKD (...)', options=options,
        values=[0.40, 0.45, 0.35]))
    lines = zoo_docs.render_summary(dict(x=entry)).split('\n')
    assert len(lines) == 4
    assert lines[2].startswith('| `x` (PKD, X, as configured) | bbox mAP | '
                               '0.250 | 0.280 | +0.030')
    # diffs 0.20, 0.15, 0.10: mean 0.15, SE 0.029, t 5.2
    assert lines[3] == ('| `x` (PKD, X, every loss_weight 10.0) | bbox mAP | '
                        '0.250 | 0.400 | +0.150 +- 0.029 (5.2) | yes |')


def _result(path, value, seed, iter_time=0.5, minutes=1.0, options=None,
            key='coco/bbox_mAP'):
    path.mkdir(parents=True)
    (path / 'zoo_result.json').write_text(json.dumps(dict(
        metrics={key: value}, iter_time=iter_time, minutes=minutes,
        checkpoint=str(path / 'epoch_1.pth'), seed=seed, config='x.py',
        options=options or {})))


FAMILIES = dict(
    det_x=dict(method='PKD', title='PKD on X', teacher='t.py',
               metric='coco/bbox_mAP'),
    det_y=dict(method='CWD', title='CWD on X, teacher seed 2', teacher='t.py',
               metric='coco/bbox_mAP', shares='det_x', teacher_seed=2),
    det_z=dict(method='FGD', title='FGD on X', teacher='t.py',
               metric='coco/bbox_mAP'))


def test_update_record_from_runs(tmp_path):
    """det_y's runs (its distilled students, det_x's plain students and
    det_x's teacher of seed 2) replace its entry, with a row per
    --cfg-options suffix; det_z, without runs, keeps its entry."""
    work = tmp_path / 'zoo'
    _result(work / 'det_x' / 'teacher_seed2', 0.6, 2, iter_time=2.0,
            minutes=10.0)
    _result(work / 'det_x' / 'teacher', 0.5, 0)  # another seed's: not used
    for seed, value in enumerate([0.2, 0.3, 0.25]):
        _result(work / 'det_x' / f'student_seed{seed}', value, seed,
                iter_time=0.4 + seed / 10)
    ckpt = {'distill.teacher.checkpoint': 'det_x/teacher_seed2/e.pth'}
    for seed, value in enumerate([0.23, 0.31]):
        _result(work / 'det_y' / f'distilled_seed{seed}', value, seed,
                options=ckpt)
    # a seed without its plain run is left out
    _result(work / 'det_y' / 'distilled_seed7', 0.9, 7, options=ckpt)
    weights = {'distill.losses.cwd0.loss_weight': 0.5}
    _result(work / 'det_y' / 'distilled_loss_weight0.5_seed1', 0.35, 1,
            options={**ckpt, **weights})
    record = dict(det_z=_entry(), det_y=dict(_entry(), label='CWD, seed 2'))
    updated = zoo_docs.update_record(record, FAMILIES, str(work))
    assert updated == ['det_y']
    assert list(record) == ['det_z', 'det_y']
    assert record['det_z'] == _entry()
    entry = record['det_y']
    assert entry['label'] == 'CWD, seed 2'  # hand-written, kept
    assert entry['title'] == 'CWD on X, teacher seed 2'
    assert entry['teacher'] == dict(name='teacher (seed 2)', seed=2,
                                    value=0.6, iter_time=2.0)
    assert entry['plain'] == dict(name='student', seeds=[0, 1],
                                  values=[0.2, 0.3], iter_time=0.45)
    main, variant = entry['distilled']
    assert main['name'] == 'student + CWD'
    assert (main['seeds'], main['values'], main['options']) == (
        [0, 1], [0.23, 0.31], {})
    assert main['command'] == 'python tools/zoo.py det_y --seeds 0 1'
    assert main['minutes'] == pytest.approx(2 * 1.0 + 2 * 1.0 + 10.0)
    assert variant['name'] == 'student + CWD (cwd0.loss_weight=0.5)'
    assert (variant['suffix'], variant['seeds'], variant['values']) == (
        '_loss_weight0.5', [1], [0.35])
    assert variant['command'] == ('python tools/zoo.py det_y --seeds 1 '
                                  '--cfg-options '
                                  'distill.losses.cwd0.loss_weight=0.5')
    # a new family is appended
    _result(work / 'det_z' / 'distilled_seed0', 0.1, 0)
    _result(work / 'det_z' / 'student_seed0', 0.2, 0)
    del record['det_z']
    assert zoo_docs.update_record(record, FAMILIES, str(work),
                                  ['det_z']) == ['det_z']
    assert list(record) == ['det_y', 'det_z']
    assert record['det_z']['label'] == 'FGD'
    assert record['det_z']['teacher'] is None  # not trained there


def test_markers_replaced_and_prose_kept():
    record = dict(x=_entry(), y=_entry(title='Y'))
    zoo_md = '\n'.join([
        '# Zoo', 'Prose before.', '<!-- zoo-summary -->', 'stale summary',
        '<!-- /zoo-summary -->', 'Prose between.', '<!-- zoo-table: x -->',
        'stale | table', 'more stale', '<!-- /zoo-table -->',
        'Prose after x.', ''])
    readme = 'Intro.\n<!-- zoo-summary -->\n<!-- /zoo-summary -->\nEnd.\n'
    new_zoo, new_readme = zoo_docs.render_text(record, zoo_md, readme)
    summary = zoo_docs.render_summary(record)
    assert new_readme == (f'Intro.\n<!-- zoo-summary -->\n{summary}\n'
                          '<!-- /zoo-summary -->\nEnd.\n')
    assert 'stale' not in new_zoo
    for prose in ('# Zoo\nProse before.\n', 'Prose between.',
                  '<!-- /zoo-table -->\nProse after x.'):
        assert prose in new_zoo
    assert (f'<!-- zoo-table: x -->\n{zoo_docs.render_table("x", record["x"])}'
            '\n<!-- /zoo-table -->') in new_zoo
    # y had no block: a new section at the end
    assert new_zoo.endswith(
        f'### `y`: Y\n\n<!-- zoo-table: y -->\n'
        f'{zoo_docs.render_table("y", record["y"])}\n<!-- /zoo-table -->\n')
    assert zoo_docs.render_text(record, new_zoo, new_readme) == (new_zoo,
                                                                  new_readme)
    with pytest.raises(ValueError, match='README.md'):
        zoo_docs.render_text(record, zoo_md, 'no markers')


def test_committed_docs_are_rendered_from_the_committed_record():
    """docs/zoo.md's tables and the README's summary are what
    docs/zoo/results.json renders (``python tools/zoo.py --write-docs``
    rewrites them after a zoo run)."""
    record = zoo_docs.load_record()
    with open(zoo_docs.ZOO_MD) as f, open(zoo_docs.README) as g:
        zoo_md, readme = f.read(), g.read()
    new_zoo, new_readme = zoo_docs.render_text(record, zoo_md, readme)
    assert new_readme == readme, 'run: python tools/zoo.py --write-docs'
    assert new_zoo == zoo_md, 'run: python tools/zoo.py --write-docs'
    for name in record:
        assert f'<!-- zoo-table: {name} -->' in zoo_md
        assert osp.exists(osp.join(REPO, 'docs', f'zoo_{name}_paired.png'))


def test_record_matches_the_zoo_families():
    zoo = pytest.importorskip('zoo')
    record = zoo_docs.load_record()
    assert sorted(record) == sorted(zoo.FAMILIES)
    for name, entry in record.items():
        family = zoo.FAMILIES[name]
        for key in ('title', 'method', 'metric'):
            assert entry[key] == family[key], (name, key)
        plain_name, distilled_name = zoo_docs.row_names(family)
        assert entry['plain']['name'] == plain_name
        assert entry['distilled'][0]['name'].startswith(distilled_name)
        assert (entry['teacher'] is None) == (family['teacher'] is None)
        if entry['teacher']:
            assert entry['teacher']['seed'] == family.get('teacher_seed', 0)


def test_run_dirs_of_shared_and_chained_families():
    zoo = pytest.importorskip('zoo')

    def run(name, *args):
        return osp.relpath(zoo_docs.run_dir(zoo.FAMILIES, name, 'w', *args),
                           'w')

    assert run('det_cwd_teacher2', 'teacher') == 'det_pkd/teacher_seed2'
    assert run('det_cwd', 'plain', 3) == 'det_pkd/student_seed3'
    assert run('det_cwd', 'distilled', 3, '_loss_weight1') == \
        'det_cwd/distilled_loss_weight1_seed3'
    assert run('pose_dwpose_s1_pre', 'teacher') == 'pose_dwpose_s1/teacher'
    assert run('pose_dwpose_s1_pre', 'plain', 0) == \
        'pose_dwpose_s1_pre/student_seed0'
    assert run('pose_dwpose_s1_pre', 'pretrain') == \
        'pose_dwpose_s1_pre/pretrain'
    assert run('pose_dwpose_s2', 'after', 4) == 'pose_dwpose_s1/distilled_seed4'
    assert run('det_dfine_golsd', 'plain', 1) == \
        'det_dfine_fdr/distilled_seed1'


def test_write_docs_command(tmp_path, monkeypatch):
    """``tools/zoo.py --write-docs`` (no family): the families with runs
    under the work dir get their entries from them, the others are kept,
    and the docs and each family's plot are rendered from the record."""
    zoo = pytest.importorskip('zoo')
    docs = tmp_path / 'docs'
    (docs / 'zoo').mkdir(parents=True)
    shutil.copy(zoo_docs.RECORD, docs / 'zoo' / 'results.json')
    shutil.copy(zoo_docs.ZOO_MD, docs / 'zoo.md')
    shutil.copy(zoo_docs.README, tmp_path / 'README.md')
    monkeypatch.setattr(zoo_docs, 'RECORD', str(docs / 'zoo' / 'results.json'))
    monkeypatch.setattr(zoo_docs, 'ZOO_MD', str(docs / 'zoo.md'))
    monkeypatch.setattr(zoo_docs, 'README', str(tmp_path / 'README.md'))
    monkeypatch.setattr(zoo_docs, 'PLOT_DIR', str(docs))
    work = tmp_path / 'zoo'
    _result(work / 'det_pkd' / 'teacher', 0.5, 0)
    for seed, (plain, distilled) in enumerate([(0.2, 0.4), (0.3, 0.45)]):
        _result(work / 'det_pkd' / f'student_seed{seed}', plain, seed)
        _result(work / 'det_pkd' / f'distilled_seed{seed}', distilled, seed)
    before = zoo_docs.load_record()
    monkeypatch.setattr(sys, 'argv', ['zoo.py', '--write-docs', '--work-dir',
                                      str(work)])
    zoo.main()
    record = zoo_docs.load_record(str(docs / 'zoo' / 'results.json'))
    assert list(record) == list(before)
    assert record['det_pkd']['plain']['values'] == [0.2, 0.3]
    assert record['det_pkd']['label'] == before['det_pkd']['label']
    assert {k: v for k, v in record.items() if k != 'det_pkd'} == {
        k: v for k, v in before.items() if k != 'det_pkd'}
    zoo_md = (docs / 'zoo.md').read_text()
    assert ('| student + PKD | 0.425 | 0.035 | +0.175 +- 0.025 (7.0) | '
            '0.400, 0.450 |') in zoo_md
    readme = (tmp_path / 'README.md').read_text()
    assert ('| `det_pkd` (PKD, RTMDet) | bbox mAP | 0.250 | 0.425 | '
            '+0.175 +- 0.025 (7.0) | yes |') in readme
    for name in record:
        assert osp.getsize(docs / f'zoo_{name}_paired.png') > 1000
    # a family is needed without --write-docs
    monkeypatch.setattr(sys, 'argv', ['zoo.py'])
    with pytest.raises(SystemExit):
        zoo.main()

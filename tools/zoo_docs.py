"""The results zoo's record and the docs rendered from it.

``docs/zoo/results.json`` holds, per family, the rows of its zoo runs: the
teacher, the plain student and the distilled students with their per-seed
values, median seconds per iteration, training minutes and commands.

    python tools/zoo.py --write-docs [FAMILY] [--work-dir work_dirs/zoo]

updates the record from the runs found under the work dir (each run's
``zoo_result.json``; families without runs there keep their entry), then
renders from it each family's table into ``docs/zoo.md``, the summary table
into ``docs/zoo.md`` and ``README.md`` (both between ``<!-- zoo-... -->``
markers; the prose around them is written by hand) and each family's plot
``docs/zoo_FAMILY_paired.png``. Nothing here imports torch or mmkd.
"""
import json
import math
import os
import os.path as osp
import re
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECORD = osp.join(REPO, 'docs', 'zoo', 'results.json')
ZOO_MD = osp.join(REPO, 'docs', 'zoo.md')
README = osp.join(REPO, 'README.md')
PLOT_DIR = osp.join(REPO, 'docs')

# metric key -> (its name in the tables, decimals)
METRICS = {
    'coco/bbox_mAP': ('bbox mAP', 3),
    'coco/AP': ('AP', 3),
    'mIoU': ('mIoU', 1),
    'accuracy/top1': ('top-1 %', 1),
    'Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate':
    ('3D AP40 %', 1),
}
# options the zoo sets itself; any other option of a distilled run (its
# ``--cfg-options``) makes it a variant row
ZOO_OPTIONS = ('distill.teacher.checkpoint',
               'distill.student_init.checkpoint',
               'model.backbone.init_cfg.checkpoint')
SUMMARY = 'zoo-summary'


def run_dir(families: Dict[str, dict], name: str, work_dir: str, run: str,
            seed: Optional[int] = None, suffix: str = '') -> str:
    """The folder of one run of family ``name`` under the zoo's work dir.

    Args:
        families: The zoo's families (``tools/zoo.py``'s ``FAMILIES``).
        name: The family.
        work_dir: The zoo's work dir (``--work-dir``).
        run: ``'teacher'``, ``'pretrain'``, ``'plain'``, ``'after'`` (the
            run a distilled student starts from: stage 1 for stage 2) or
            ``'distilled'``.
        seed: The student's seed.
        suffix: The distilled runs' ``--cfg-options`` suffix.
    """
    family = families[name]
    # a family with the same teacher and plain students as another reuses
    # that one's runs
    shared = family.get('shares', name)
    if run == 'teacher':
        teacher_seed = family.get('teacher_seed', 0)
        return osp.join(work_dir, shared, 'teacher' + (
            f'_seed{teacher_seed}' if teacher_seed else ''))
    if run == 'pretrain':
        return osp.join(work_dir, name, 'pretrain')
    if run == 'plain':
        runs = family.get('student_runs', osp.join(shared, 'student'))
        return osp.join(work_dir, f'{runs}_seed{seed}')
    if run == 'after':
        return run_dir(families, family['after'], work_dir, 'distilled', seed)
    if run == 'distilled':
        return osp.join(work_dir, name, f'distilled{suffix}_seed{seed}')
    raise ValueError(f'unknown run {run!r}')


def row_names(family: dict) -> Tuple[str, str]:
    """The names of a family's plain and distilled rows."""
    return family.get('names', ('student', f'student + {family["method"]}'))


def paired_stats(plain: List[float], distilled: List[float]) -> dict:
    """Mean paired difference ``distilled - plain``, its standard error and
    their ratio (a t statistic with ``n - 1`` degrees of freedom)."""
    diffs = [d - p for p, d in zip(plain, distilled)]
    mean = statistics.mean(diffs)
    se = (statistics.stdev(diffs) / math.sqrt(len(diffs))
          if len(diffs) > 1 else float('nan'))
    return dict(diffs=diffs, mean=mean, se=se,
                t=mean / se if se and se == se else float('nan'))


def plot_paired(diffs: List[float], seeds: List[int], mean: float, se: float,
                title: str, out: str,
                ylabel: str = 'student + KD - student') -> str:
    """Each seed's paired difference, their mean and +-2 standard errors."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.axhline(0, color='grey', lw=1)
    ax.scatter(range(len(diffs)), diffs, color='tab:blue', zorder=3,
               label='one seed')
    if se == se:  # not NaN
        ax.errorbar([len(diffs) + 0.5], [mean], yerr=[2 * se], fmt='s',
                    color='tab:red', capsize=4, label='mean +- 2 SE')
    ax.set_xticks(list(range(len(diffs))) + [len(diffs) + 0.5])
    ax.set_xticklabels([str(s) for s in seeds] + ['mean'])
    ax.set_xlabel('seed')
    ax.set_ylabel(ylabel, fontsize=8 if len(ylabel) > 30 else 10)
    ax.set_title(title, fontsize=9)
    # below the axes: inside, it hides the points of some seeds
    ax.legend(fontsize=8, loc='upper center', bbox_to_anchor=(0.5, -0.22),
              ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_ylabel(plain_name: str, distilled_name: str) -> str:
    """The paired plot's y label: ``distilled - plain``."""
    return f'{distilled_name} - ' + (f'({plain_name})' if '+' in plain_name
                                     else plain_name)


# ---------------------------------------------------------------- record


def _result(run: str) -> Optional[dict]:
    path = osp.join(run, 'zoo_result.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _median_time(runs: Sequence[dict]) -> Optional[float]:
    times = [r['iter_time'] for r in runs if r.get('iter_time') is not None]
    return statistics.median(times) if times else None


def _options_name(options: dict) -> str:
    """``distill.losses.ld.loss_weight=1.0`` -> ``ld.loss_weight=1.0``."""
    short = {re.sub(r'^distill\.(losses\.)?', '', k): v
             for k, v in options.items()}
    return ', '.join(f'{k}={v}' for k, v in sorted(short.items()))


def _short_options(options: dict) -> str:
    """``_options_name``, one ``key=value`` for a key set alike on every
    loss: ``every loss_weight 10.0``."""
    last = {(k.split('.')[-1], v) for k, v in options.items()}
    if len(options) > 1 and len(last) == 1:
        key, value = last.pop()
        return f'every {key} {value}'
    return _options_name(options)


def read_runs(families: Dict[str, dict], name: str,
              work_dir: str) -> Optional[dict]:
    """Family ``name``'s record entry from its runs under ``work_dir``: every
    seed whose distilled and plain runs have a ``zoo_result.json``, one
    distilled row per ``--cfg-options`` suffix. ``None`` without such runs.
    """
    family = families[name]
    key = family['metric']
    plain_name, distilled_name = row_names(family)
    root = osp.join(work_dir, name)
    found: Dict[str, Dict[int, dict]] = {}
    for folder in sorted(os.listdir(root)) if osp.isdir(root) else []:
        match = re.fullmatch(r'distilled(.*)_seed(\d+)', folder)
        result = match and _result(osp.join(root, folder))
        if result:
            found.setdefault(match[1], {})[int(match[2])] = result
    plain: Dict[int, dict] = {}
    for seed in sorted({s for runs in found.values() for s in runs}):
        result = _result(run_dir(families, name, work_dir, 'plain', seed))
        if result:
            plain[seed] = result
    teacher, teacher_run = None, None
    if family.get('teacher'):
        teacher_run = _result(run_dir(families, name, work_dir, 'teacher'))
        if teacher_run:
            teacher_seed = family.get('teacher_seed', 0)
            teacher = dict(name=f'teacher (seed {teacher_seed})',
                           seed=teacher_seed,
                           value=teacher_run['metrics'].get(key, 0.0),
                           iter_time=teacher_run.get('iter_time'))
    rows = []
    for suffix in sorted(found):  # '' (no --cfg-options) first
        seeds = sorted(s for s in found[suffix] if s in plain)
        if not seeds:
            continue
        runs = [found[suffix][s] for s in seeds]
        options = {k: v for k, v in runs[0].get('options', {}).items()
                   if k not in ZOO_OPTIONS}
        command = f'python tools/zoo.py {name} --seeds ' + ' '.join(
            map(str, seeds))
        if options:
            command += ' --cfg-options ' + ' '.join(
                f'{k}={v}' for k, v in options.items())
        # as the zoo counts it: teacher, plain and distilled runs
        counted = runs + [plain[s] for s in seeds] + (
            [teacher_run] if teacher_run else [])
        minutes = (sum(r['minutes'] for r in counted)
                   if all('minutes' in r for r in counted) else None)
        rows.append(dict(
            name=distilled_name + (f' ({_options_name(options)})'
                                   if options else ''),
            suffix=suffix, options=options, seeds=seeds,
            values=[r['metrics'].get(key, 0.0) for r in runs],
            iter_time=_median_time(runs), minutes=minutes, command=command))
    if not rows:
        return None
    seeds = sorted({s for row in rows for s in row['seeds']})
    # mmdet's CocoMetric returns no keys when nothing was detected: 0 mAP
    return dict(
        source=f'zoo_result.json of the runs under {work_dir}',
        title=family['title'], method=family['method'], metric=key,
        teacher=teacher,
        plain=dict(name=plain_name, seeds=seeds,
                   values=[plain[s]['metrics'].get(key, 0.0) for s in seeds],
                   iter_time=_median_time([plain[s] for s in seeds])),
        distilled=rows)


def update_record(record: Dict[str, dict], families: Dict[str, dict],
                  work_dir: str,
                  names: Optional[Sequence[str]] = None) -> List[str]:
    """Replace the entries of the families (all, or ``names``) that have
    runs under ``work_dir`` by what those runs hold; the others are kept.
    An entry's hand-written ``label`` (the summary's words) is kept.

    Returns:
        The families updated.
    """
    updated = []
    for name in names or families:
        entry = read_runs(families, name, work_dir)
        if entry is None:
            continue
        entry['label'] = record.get(name, {}).get('label',
                                                  families[name]['method'])
        record[name] = entry  # an existing family keeps its place
        updated.append(name)
    return updated


def load_record(path: Optional[str] = None) -> Dict[str, dict]:
    with open(path or RECORD) as f:
        return json.load(f)


def save_record(record: Dict[str, dict], path: Optional[str] = None) -> None:
    path = path or RECORD
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(record, f, indent=1)
        f.write('\n')


# ---------------------------------------------------------------- render


def metric_format(metric: str) -> Tuple[str, int]:
    """A metric's name in the tables and its decimals."""
    return METRICS.get(metric, (metric, 3))


def _seed_range(seeds: Sequence[int]) -> str:
    if len(seeds) > 2 and list(seeds) == list(
            range(seeds[0], seeds[-1] + 1)):
        return f'{seeds[0]}-{seeds[-1]}'
    return ', '.join(map(str, seeds))


def _row(name: str, values: Sequence[float], digits: int,
         diff: str = '') -> str:
    std = (f'{statistics.stdev(values):.{digits}f}' if len(values) > 1
           else '-')
    each = ', '.join(f'{v:.{digits}f}' for v in values)
    return (f'| {name} | {statistics.mean(values):.{digits}f} | {std} | '
            f'{diff} | {each} |')


def row_stats(entry: dict, row: dict) -> dict:
    """A distilled row's paired statistics against the plain row."""
    plain = dict(zip(entry['plain']['seeds'], entry['plain']['values']))
    return paired_stats([plain[s] for s in row['seeds']], row['values'])


def _diff(stats: dict, digits: int) -> str:
    return (f'{stats["mean"]:+.{digits}f} +- {stats["se"]:.{digits}f} '
            f'({stats["t"]:.1f})')


def verdict(stats: dict) -> str:
    """Whether the paired difference is beyond two standard errors."""
    if stats['mean'] > 2 * stats['se']:
        return 'yes'
    return 'no: worse' if stats['mean'] < -2 * stats['se'] else 'no'


def render_table(name: str, entry: dict) -> str:
    """One family's table, its plot and the commands that made it."""
    label, digits = metric_format(entry['metric'])
    plain, teacher = entry['plain'], entry.get('teacher')
    lines = [
        f'| model | {label} mean | std | paired diff +- SE (t) | each seed '
        f'({_seed_range(plain["seeds"])}) |', '| --- | ---: | ---: | ---: '
        '| --- |'
    ]
    if teacher:
        lines.append(_row(teacher['name'], [teacher['value']], digits))
    lines.append(_row(plain['name'], plain['values'], digits))
    for row in entry['distilled']:
        lines.append(_row(row['name'], row['values'], digits,
                          _diff(row_stats(entry, row), digits)))
    lines += ['', f'![{name} paired differences](zoo_{name}_paired.png)', '']
    many = len(entry['distilled']) > 1
    for row in entry['distilled']:
        minutes = row.get('minutes')
        lines.append('- ' + (f'{row["name"]}: ' if many else '') +
                     f'`{row["command"]}`' +
                     (f', {minutes:.0f} min of training in all (median '
                      's/iter x iterations)' if minutes is not None else ''))
    times = [(r['name'], r.get('iter_time'))
             for r in [teacher or {}, plain, *entry['distilled']] if r]
    times = [f'{n} {t:.3g}' for n, t in times if t is not None]
    if times:
        lines.append('- median s/iter: ' + ', '.join(times))
    return '\n'.join(lines)


def render_summary(record: Dict[str, dict]) -> str:
    """One row per family and distilled row against the plain one; a
    family with several distilled rows names each row's options."""
    lines = [
        '| family | metric | student | distilled | paired diff +- SE (t) '
        '| gain > 2 SE |', '| --- | --- | ---: | ---: | ---: | --- |'
    ]
    for name, entry, row in ((n, e, r) for n, e in record.items()
                             for r in e['distilled']):
        label, digits = metric_format(entry['metric'])
        stats = row_stats(entry, row)
        words = entry.get('label')
        if len(entry['distilled']) > 1:
            words = ', '.join(filter(None, (words, _short_options(
                row.get('options', {})) or 'as configured')))
        lines.append(
            f'| `{name}`' + (f' ({words})' if words else '') + f' | {label} '
            f'| {statistics.mean(entry["plain"]["values"]):.{digits}f} '
            f'| {statistics.mean(row["values"]):.{digits}f} '
            f'| {_diff(stats, digits)} | {verdict(stats)} |')
    return '\n'.join(lines)


def replace_block(text: str, tag: str, body: str) -> Tuple[str, int]:
    """Put ``body`` between ``<!-- tag -->`` and ``<!-- /kind -->`` (kind:
    the tag up to its colon). Returns the text and the number of blocks."""
    start = f'<!-- {tag} -->'
    end = f'<!-- /{tag.split(":")[0]} -->'
    return re.subn(
        re.escape(start) + r'\n.*?' + re.escape(end),
        lambda _: f'{start}\n{body}\n{end}', text, flags=re.S)


def render_text(record: Dict[str, dict], zoo_md: str,
                readme: str) -> Tuple[str, str]:
    """``docs/zoo.md`` and ``README.md`` with their generated blocks
    rendered from ``record``; a family without a block in ``zoo_md`` gets a
    new section at its end."""
    summary = render_summary(record)
    for text, path in ((zoo_md, 'docs/zoo.md'), (readme, 'README.md')):
        if f'<!-- {SUMMARY} -->' not in text:
            raise ValueError(f'{path} has no <!-- {SUMMARY} --> marker')
    zoo_md = replace_block(zoo_md, SUMMARY, summary)[0]
    readme = replace_block(readme, SUMMARY, summary)[0]
    for name, entry in record.items():
        tag = f'zoo-table: {name}'
        zoo_md, found = replace_block(zoo_md, tag, render_table(name, entry))
        if not found:
            zoo_md = (zoo_md.rstrip('\n') + f'\n\n### `{name}`: '
                      f'{entry["title"]}\n\n<!-- {tag} -->\n'
                      f'{render_table(name, entry)}\n<!-- /zoo-table -->\n')
    return zoo_md, readme


def render_plots(record: Dict[str, dict], plot_dir: str) -> List[str]:
    """Each family's paired plot (its first distilled row) into
    ``plot_dir/zoo_FAMILY_paired.png``."""
    plots = []
    for name, entry in record.items():
        row = entry['distilled'][0]
        stats = row_stats(entry, row)
        # a variant's options go to the title, not the y label
        title, label = entry['title'], row['name']
        if row.get('options'):
            label = label[:-len(f' ({_options_name(row["options"])})')]
            leaves = sorted({f'{k.split(".")[-1]}={v}'
                             for k, v in row['options'].items()})
            title += '\nwith ' + ', '.join(leaves)
        plots.append(plot_paired(
            stats['diffs'], row['seeds'], stats['mean'], stats['se'], title,
            osp.join(plot_dir, f'zoo_{name}_paired.png'),
            plot_ylabel(entry['plain']['name'], label)))
    return plots


def _write(path: str, text: str) -> None:
    with open(path) as f:
        if f.read() == text:
            return
    with open(path, 'w') as f:
        f.write(text)


def write_docs(families: Dict[str, dict], work_dir: str,
               names: Optional[Sequence[str]] = None,
               record_path: Optional[str] = None,
               zoo_md: Optional[str] = None, readme: Optional[str] = None,
               plot_dir: Optional[str] = None) -> List[str]:
    """Update the record from the runs under ``work_dir`` (all families, or
    ``names``), then render the docs and plots from it.

    Returns:
        The families updated from runs.
    """
    record_path = record_path or RECORD
    zoo_md, readme = zoo_md or ZOO_MD, readme or README
    record = load_record(record_path)
    updated = update_record(record, families, work_dir, names)
    save_record(record, record_path)
    with open(zoo_md) as f, open(readme) as g:
        zoo_text, readme_text = render_text(record, f.read(), g.read())
    _write(zoo_md, zoo_text)
    _write(readme, readme_text)
    render_plots(record, plot_dir or PLOT_DIR)
    return updated

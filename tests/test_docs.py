"""README.md and docs/: everything they name in the repository exists.

Commands (``python tools/...py``, ``make TARGET``, ``bash X.sh``), repository
paths (``tools/``, ``configs/``, ``benchmarks/``, ``tests/``, ``docs/`` ...),
``mmkd::`` config paths (resolved under ``configs/``), the recipes of the
recipe table and local links and images (with their ``#anchor``)."""
import glob
import os.path as osp
import re
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = ['README.md'] + sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'docs', '**', '*.md'), recursive=True))

# names on the user's side: example files a reader writes, and the scripts
# of the OpenMMLab packages (not of this repository)
USER_SIDE = {
    'my_rtmdet_tiny_kd.py', 'razor_cfg.py', 'mmkd_cfg.py',
    'tools/dist_train.sh', 'tools/slurm_train.sh',
    'docs/zoo_FAMILY_paired.png',
}
PATH = re.compile(r'(?<![\w/.:$-])((?:tools|configs|benchmarks|tests|docs|'
                  r'projects|requirements|\.ci|mmkd)/[\w./{},*-]*[\w*}])')
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
CODE = re.compile(r'```[^\n]*\n(.*?)```|`([^`\n]+)`', re.S)


def _read(page: str) -> str:
    with open(osp.join(REPO, page)) as f:
        return f.read()


def _expand(path: str) -> list:
    """``a/{b,c}.py`` -> ``a/b.py``, ``a/c.py``."""
    match = re.search(r'\{([^}]*)\}', path)
    if not match:
        return [path]
    return [p for alt in match[1].split(',') for p in _expand(
        path[:match.start()] + alt + path[match.end():])]


def _exists(path: str) -> bool:
    return any(glob.glob(osp.join(REPO, p)) for p in _expand(path))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def _anchors(page: str) -> set:
    text = re.sub(r'```.*?```', '', _read(page), flags=re.S)
    return {_slug(h) for h in re.findall(r'^#+ (.+)$', text, re.M)}


def _makefile_targets() -> set:
    return set(re.findall(r'^([\w-]+):', _read('Makefile'), re.M))


def _missing(page: str) -> list:
    text = _read(page)
    code = '\n'.join(block or span for block, span in CODE.findall(text))
    missing = []
    for path in PATH.findall(text):
        if path not in USER_SIDE and not _exists(path):
            missing.append(path)
    for path in re.findall(r'mmkd::([\w/.-]+\.py)', text):
        if not osp.exists(osp.join(REPO, 'configs', path)):
            missing.append(f'mmkd::{path}')
    for target in re.findall(r'\bmake\s+([a-z][\w-]*)', code):
        if target not in _makefile_targets():
            missing.append(f'make {target}')
    for script in re.findall(r'\bbash\s+([^\s`$]\S*)', code):
        if script not in USER_SIDE and not _exists(script):
            missing.append(f'bash {script}')
    # the scripts and .py arguments of command lines
    for line in re.findall(r'\b(?:python|torchrun|srun)\b[^\n`]*', code):
        for arg in re.findall(r'(?<![\w/.:-])([\w./-]+\.py)\b', line):
            if not (arg in USER_SIDE or arg.startswith('work_dirs/')
                    or _exists(arg)):
                missing.append(arg)
    for link in LINK.findall(text):
        if re.match(r'[a-z]+:', link):  # http:, https:, mailto:
            continue
        target, _, anchor = link.partition('#')
        target = osp.normpath(osp.join(osp.dirname(page), target)) \
            if target else page
        if not osp.exists(osp.join(REPO, target)):
            missing.append(link)
        elif anchor and target.endswith('.md') and \
                anchor not in _anchors(target):
            missing.append(link)
    return sorted(set(missing))


@pytest.mark.parametrize('page', PAGES)
def test_everything_named_exists(page):
    assert _missing(page) == []


def test_recipe_table_names_existing_recipes():
    """The recipe table of docs/recipes.md: every recipe in its first
    column is a file in configs/distill/, and every file there is in it."""
    text = _read('docs/recipes.md')
    table = text[text.index('## Recipes'):]
    table = table[:table.index('\n## ', 1)]
    named = {name for cell in re.findall(r'^\| ([^|]+) \|', table, re.M)
             for name in re.findall(r'`([\w.-]+\.py)`', cell)}
    on_disk = {osp.basename(p) for p in glob.glob(
        osp.join(REPO, 'configs', 'distill', '*.py'))}
    assert named == on_disk


def test_the_checks_catch_what_is_missing(tmp_path, monkeypatch):
    """Each kind of reference is caught when it names nothing."""
    page = tmp_path / 'docs' / 'page.md'
    page.parent.mkdir()
    page.write_text('\n'.join([
        'See [the zoo](zoo.md) and [a typo](zoo_typo.md),',
        '[an anchor](zoo.md#no-such-heading), ![a plot](nothing.png),',
        '`configs/distill/no_such_recipe.py`, `mmkd::distill/nope.py`,',
        '```bash', 'make no-such-target', 'bash tools/nope.sh',
        'python tools/nope.py configs/examples/nope.py', '```']))
    (tmp_path / 'docs' / 'zoo.md').write_text('# Zoo\n')
    (tmp_path / 'Makefile').write_text('test:\n\ttrue\n')
    (tmp_path / 'configs' / 'distill').mkdir(parents=True)
    monkeypatch.setattr(sys.modules[__name__], 'REPO', str(tmp_path))
    assert _missing('docs/page.md') == sorted([
        'zoo_typo.md', 'zoo.md#no-such-heading', 'nothing.png',
        'configs/distill/no_such_recipe.py', 'mmkd::distill/nope.py',
        'make no-such-target', 'bash tools/nope.sh', 'tools/nope.sh',
        'tools/nope.py', 'configs/examples/nope.py'])

"""Installing mmkd with plain pip into an environment that already has the
OpenMMLab stack: `mmkd::` configs resolve in every script with no extra
command, and `pip uninstall` leaves nothing behind."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import sysconfig

import pytest

from conftest import REPO

HOOK = 'mmkd_scope_hook.pth'
# A user's config: a recipe of mmkd mixed into a config of theirs. Loading it
# imports nothing of mmkd; mmpose's tools/train.py would call
# Runner.from_cfg, which must hand it to mmkd's DistillRunner.
USER_CFG = """
_base_ = ['mmkd::distill/rtmdet_pkd_fpn.py']
"""
CHECK = """
import sys
from mmengine.config import Config
cfg = Config.fromfile('user_cfg.py')
assert 'mmkd' not in sys.modules, 'mmkd imported at start-up'
from mmengine.runner import Runner
print('runner_type', cfg.runner_type)
print('routed', getattr(Runner.from_cfg.__func__, 'mmkd_route', False))
import mmkd
print('mmkd_file', mmkd.__file__)
"""


def _run(args, cwd, check=True):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode:
        raise AssertionError(f'{args} failed:\n{proc.stdout}\n{proc.stderr}')
    return proc


@pytest.fixture
def stack_venv(tmp_path):
    """A throw-away venv that sees this venv's packages (the stack) through a
    path entry, but none of its .pth hooks: mmkd itself is not installed."""
    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], tmp_path)
    python = str(venv / 'bin' / 'python')
    site = _run([python, '-c', 'import sysconfig; '
                 "print(sysconfig.get_paths()['purelib'])"],
                tmp_path).stdout.strip()
    with open(osp.join(site, 'stack.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    (tmp_path / 'user_cfg.py').write_text(USER_CFG)
    probe = _run([python, '-c', 'import mmkd'], tmp_path, check=False)
    assert probe.returncode != 0, 'mmkd must not be importable before'
    return python, site


@pytest.mark.parametrize('editable', [False, True], ids=['wheel', 'editable'])
def test_pip_install_and_uninstall(stack_venv, tmp_path, editable):
    python, site = stack_venv
    pip = [sys.executable, '-m', 'pip', '--python', python]
    target = ['-e', REPO] if editable else [REPO]
    _run(pip + ['install', '-q', '--no-deps', '--no-build-isolation']
         + target, tmp_path)
    assert osp.isfile(osp.join(site, HOOK))

    # A fresh interpreter (as mmdet's own tools/train.py starts) resolves
    # `mmkd::` in `_base_` and routes the config, importing no mmkd first.
    out = _run([python, '-c', CHECK], tmp_path).stdout
    assert 'runner_type mmkd.DistillRunner' in out
    assert 'routed True' in out
    mmkd_file = out.split('mmkd_file ')[1].strip()
    if editable:
        assert mmkd_file == osp.join(REPO, 'mmkd', '__init__.py')
    else:  # a real copy, with the configs packaged under .mim
        assert mmkd_file.startswith(site)
        assert osp.isfile(osp.join(site, 'mmkd', '.mim', 'configs',
                                   'distill', 'rtmdet_pkd_fpn.py'))

    _run(pip + ['uninstall', '-y', '-q', 'mmkd'], tmp_path)
    assert not osp.exists(osp.join(site, HOOK))
    assert not [f for f in os.listdir(site) if 'mmkd' in f.lower()]
    # Python starts cleanly and `mmkd::` no longer resolves.
    clean = _run([python, '-c', 'print("ok")'], tmp_path)
    assert clean.stdout == 'ok\n' and clean.stderr == ''
    gone = _run([python, '-c', CHECK], tmp_path, check=False)
    assert gone.returncode != 0 and 'mmkd' in gone.stderr


def test_stale_hook_without_mmkd_is_harmless(stack_venv, tmp_path):
    """A hook left by hand (``scope_hook.install()``) after mmkd is gone does
    nothing: no error at start-up."""
    python, site = stack_venv
    spec = importlib.util.spec_from_file_location(
        'hook', osp.join(REPO, 'mmkd', 'utils', 'scope_hook.py'))
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    hook.install(site)
    proc = _run([python, '-c', 'print("ok")'], tmp_path)
    assert proc.stdout == 'ok\n' and proc.stderr == ''

"""mmkd: knowledge distillation for OpenMMLab configs."""
import importlib.util
import os.path as osp

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmkd', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


class BuildPyWithScopeHook(build_py):
    """Also writes ``mmkd_scope_hook.pth`` at the top of the wheel (so it
    lands in site-packages, listed in the install's RECORD and removed by
    ``pip uninstall``): it makes ``mmkd::`` configs resolve in every script
    (see ``mmkd/utils/scope_hook.py``). Editable installs get it too."""

    def run(self) -> None:
        super().run()
        spec = importlib.util.spec_from_file_location(
            'mmkd_scope_hook', osp.join(HERE, 'mmkd', 'utils', 'scope_hook.py'))
        hook = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(hook)  # imports nothing but the stdlib
        # An editable wheel is assembled from install_lib, not build_lib.
        target = (self.get_finalized_command('install').install_lib
                  if getattr(self, 'editable_mode', False) else self.build_lib)
        hook.install(target)


setup(
    name='mmkd',
    version=read_version(),
    description='Knowledge distillation plugin for OpenMMLab '
    '(mmdet, mmpose, mmseg) configs',
    packages=find_packages(exclude=('tests', 'configs', 'tools')),
    # mmkd/.mim/configs and mmkd/.mim/tools link to the repo's configs/ and
    # tools/, so `mmkd::distill/x.py` resolves like `mmdet::...` does.
    include_package_data=True,
    package_data={'mmkd': ['.mim/model-index.yml', '.mim/configs/**/*.py',
                          '.mim/tools/*.py']},
    python_requires='>=3.9',
    install_requires=['mmengine>=0.10.0'],
    license='Apache License 2.0',
    zip_safe=False,
    cmdclass={'build_py': BuildPyWithScopeHook},
)

"""mmkd: knowledge distillation for OpenMMLab configs."""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mmkd', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


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
)

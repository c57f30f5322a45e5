#!/usr/bin/env bash
# Set up a virtual environment with the OpenMMLab stack and mmkd (editable).
#
# Usage: bash tools/setup_env.sh   (venv in ./.venv, or $MMKD_VENV, relative or
#        absolute; mmcv wheel cache in ~/.cache/mmkd, or $MMKD_CACHE)
#
# What each step works around is measured in ../shared/ENVIRONMENT.md:
#  - mmcv 2.1.0 has no wheel for this torch: it is built from source with
#    setuptools<81 (pkg_resources) and cached, keyed on the torch version;
#  - mmpose 1.3.2 is installed with --no-deps (chumpy does not build) and its
#    xtcocotools is rebuilt from source against numpy 2;
#  - mmengine resolves `pkg::` config scopes through pkg_resources, so
#    setuptools stays below 81;
#  - mmpose's Albumentation step needs albumentations 1.x (requirements/);
#  - mmdet3d 1.4.0's declared dependencies do not resolve: --no-deps plus
#    what its models, data sets and KITTI metric import;
#  - mmpretrain 1.2.0 likewise: --no-deps plus what it imports.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MMKD_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3.11}
CACHE=${MMKD_CACHE:-$HOME/.cache/mmkd}
# Every path absolute once: later steps cd into the mmcv source.
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
VENV=$(abspath "$VENV")
CACHE=$(abspath "$CACHE")
# The stack steps run again whenever this script or a requirements file changes.
STAMP="$VENV/.mmkd-stack-$(cat "$ROOT/tools/setup_env.sh" "$ROOT"/requirements/*.txt | sha1sum | cut -c1-12)"

log() { echo "[setup_env] $*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -f "$STAMP" ]; then
  log "installing torch, torchvision and plain dependencies"
  $PIP install -q 'setuptools>=77,<81' wheel cython
  $PIP install -q torch==2.14.1 torchvision==0.29.1
  $PIP install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
  $PIP install -q mmengine==0.10.7

  TORCH_VER=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
  WHEELS="$CACHE/mmcv-2.1.0-torch-$TORCH_VER"
  if ! ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "building mmcv 2.1.0 with CPU ops against torch $TORCH_VER (about 10 minutes, cached in $WHEELS)"
    SRC=$(mktemp -d)
    $PIP download -q --no-deps --no-binary :all: -d "$SRC" mmcv==2.1.0
    tar xzf "$SRC"/mmcv-2.1.0.tar.gz -C "$SRC"
    # torch >= 2.14 headers need C++20; mmcv 2.1.0 asks for C++17.
    if "$VENV/bin/python" -c 'import sys, torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(v < (2, 14))'; then
      sed -i "s/'-std=c++17'\]/'-std=c++20']/" "$SRC"/mmcv-2.1.0/setup.py
    fi
    mkdir -p "$WHEELS.tmp"
    (cd "$SRC"/mmcv-2.1.0 && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP wheel -q --no-cache-dir \
      --no-deps --no-build-isolation -w "$WHEELS.tmp" .)
    rm -rf "$WHEELS" "$SRC" && mv "$WHEELS.tmp" "$WHEELS"
  else
    log "using cached mmcv wheel from $WHEELS"
  fi
  $PIP install -q --no-deps --force-reinstall "$WHEELS"/mmcv-2.1.0-*.whl

  $PIP install -q --no-deps mmdet==3.3.0 mmsegmentation==1.2.2 mmpose==1.3.2
  # mmdet3d 1.4.0 (PointDistiller): its declared deps do not resolve (open3d,
  # nuscenes-devkit's pins); these are what `mmdet3d.models`, `.datasets` and
  # `.evaluation` (KittiMetric; lyft_dataset_sdk needs pandas, scikit-learn,
  # cachetools) import. About 45 s.
  $PIP install -q --no-deps mmdet3d==1.4.0 nuscenes-devkit==1.2.0 lyft_dataset_sdk==0.0.8
  $PIP install -q numba==0.68.1 pyquaternion==0.9.9 trimesh==5.2.0 \
    pandas==3.1.1 scikit-learn==1.9.1 cachetools==8.0.2
  $PIP install -q --no-deps --no-build-isolation --no-binary xtcocotools xtcocotools==1.14.3
  # mmpretrain 1.2.0 (classification KD): its declared deps pull other
  # versions of the stack; these four are what it imports beside it.
  $PIP install -q --no-deps mmpretrain==1.2.0
  $PIP install -q importlib_metadata==10.2.0 mat4py==0.6.0 modelindex==0.0.2 einops==0.8.2
  # spconv 2 (CPU build) for mmdet3d's SECOND; mmkd's DistillRunner lets its
  # backward run without a GPU (mmkd/utils/spconv_cpu.py). About 10 s.
  $PIP install -q spconv==2.3.8 cumm==0.7.11
  touch "$STAMP"
fi

log "installing mmkd (editable)"
# The package installs mmkd_scope_hook.pth: `mmkd::` config paths resolve in
# every script (mmdet's own tools/train.py too).
$PIP install -q --no-deps --no-build-isolation -e "$ROOT"
"$VENV/bin/python" - <<'PY'
import mmengine.config.utils as config_utils
assert 'mmkd' in config_utils.MODULE2PACKAGE, 'mmkd_scope_hook.pth is not active'
import albumentations, mmcv, mmdet, mmdet3d, mmpose, mmseg, mmengine, torch, mmkd
import mmdet3d.models, mmdet3d.evaluation  # noqa: F401,E401  (their deps present)
import mmpretrain, mmpretrain.models, mmpretrain.datasets  # noqa: F401,E401
from mmcv.ops import nms  # noqa: F401  (compiled ops present)
print(f'[setup_env] torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, '
      f'mmpose {mmpose.__version__}, mmseg {mmseg.__version__}, '
      f'mmdet3d {mmdet3d.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'mmkd {mmkd.__version__}')
PY

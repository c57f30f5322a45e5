# The two commands of the README. Both set everything up first (a venv in
# .venv with the OpenMMLab stack; the mmcv build is cached in ~/.cache/mmkd).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test demo demo-cls

setup:
	MMKD_VENV=$(VENV) bash tools/setup_env.sh

test: setup
	$(PY) -m pytest tests

demo: setup
	$(PY) tools/demos/kd_demo.py

# classification KD with mmpretrain: teacher, student, distilled student
# over 3 paired seeds (results zoo family cls_kd; about 20 min)
demo-cls: setup
	$(PY) tools/zoo.py cls_kd --seeds 0 1 2

# Developer entry points. The virtual environment in .venv is created once and re-installed
# only when requirements.txt or setup.py change (tracked by a stamp file).

PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
INSTALL_STAMP := $(VENV)/.ov_avss-installed
QUICKSTART_CONFIG := configs/quickstart/OV_AVSS_tiny_synthetic.yaml

.PHONY: venv test test-slow quickstart gpu-check

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

$(INSTALL_STAMP): requirements.txt requirements-nodeps.txt setup.py | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install -r requirements.txt
	$(VENV_PYTHON) -m pip install --no-deps -r requirements-nodeps.txt
	# Build tools for the editable install; no build isolation so setup.py sees the venv's torch.
	$(VENV_PYTHON) -m pip install "setuptools>=64" wheel
	$(VENV_PYTHON) -m pip install --no-build-isolation -e .
	touch $@

venv: $(INSTALL_STAMP)

# The default selection of pytest.ini (slow and gpu tests deselected).
test: $(INSTALL_STAMP)
	$(VENV_PYTHON) -m pytest

# Multi-process, subprocess and end-to-end tests.
test-slow: $(INSTALL_STAMP)
	$(VENV_PYTHON) -m pytest -m slow

# The main job (docs/quickstart.md): synthetic data (generated once into the config's
# DATASETS.ROOT), training, evaluation with audio / zeroed / shuffled, and the report in
# output/quickstart/quickstart_metrics.json. Extra overrides: make quickstart ARGS="SOLVER.MAX_ITER 500".
quickstart: $(INSTALL_STAMP)
	$(VENV_PYTHON) tools/quickstart.py --config-file $(QUICKSTART_CONFIG) $(ARGS)

# On a machine with a CUDA GPU (docs/benchmarks.md): extension build, GPU tests and GPU
# benchmarks in at most 8 minutes, report in $(GPU_CHECK_OUT). No venv is created here: GPU
# machines may have no network, so it uses the venv's Python when there is one, else python3.
GPU_CHECK_OUT ?= output/gpu_check
GPU_CHECK_PYTHON ?= $(if $(wildcard $(VENV_PYTHON)),$(VENV_PYTHON),python3)
gpu-check:
	PYTHON=$(GPU_CHECK_PYTHON) tools/gpu_check.sh $(GPU_CHECK_OUT)

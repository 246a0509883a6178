# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# torch/torchvision are pinned: these releases install from local disk here; an
# unpinned torch can pull gigabytes of CUDA wheels.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: test demo install addon clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet $(TORCH_PINS) -e '.[dev,render]'
	touch $(STAMP)

install: $(STAMP)

# two test processes, a test file each (module fixtures stay in one process); torch in each
# waits passively (tests/conftest.py), so the two never starve each other
test: $(STAMP)
	$(PY) -m pytest -q -rs -n 2 --dist loadfile

# the main job on the embedded default: render → train → evaluate → predict → report
demo: $(STAMP)
	$(PY) -m rotationnet.cli demo runs/demo

# the Blender extension zip (dist/rotationnet-<version>.zip), validated by Blender's tool
addon: $(STAMP)
	$(PY) blender_addon/build.py

clean-venv:
	rm -rf $(VENV)

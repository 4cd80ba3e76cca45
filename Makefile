# Meshsmith. `make run` opens the studio, `make test` runs the suite; each sets itself up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-hunyuan setup-test run test lint clean

setup: $(VENV)/.installed

# torch is pinned in the same pip call as everything else, so nothing can pull a CUDA build.
$(VENV)/.installed: pyproject.toml
	scripts/system-deps.sh run
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0 -e '.[dev]'
	touch $@

# Hunyuan3D-2, an optional part: hy3dgen without its declared requirements (gradio, fastapi,
# uvicorn, rembg, onnxruntime, opencv-python), plus the modules its shape pipeline imports.
HY3DGEN := hy3dgen==2.0.2
setup-hunyuan: $(VENV)/.hunyuan-installed

$(VENV)/.hunyuan-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet torch==2.13.0 -e '.[dev,hunyuan]'
	$(PY) -m pip install --quiet --no-deps torch==2.13.0 $(HY3DGEN)
	touch $@

node_modules/.installed: package.json package-lock.json
	scripts/system-deps.sh test
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The tests run every adapter, the optional ones included.
setup-test: setup setup-hunyuan node_modules/.installed

run: setup
	$(PY) main.py

test: setup-test
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) node_modules

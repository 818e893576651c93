# nn2fpga — the README's two commands (demo, test) and helpers.
# Everything runs inside .venv, created on first use from the Python found below.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-slow bench serve-bench lint clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "nn2fpga needs Python >= 3.10"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job: train a small model, convert it, build the C simulation, compare with Keras.
demo: $(STAMP)
	$(PY) examples/demo.py

# Set-up, the import-layer contract (setup.cfg [importlinter]) and the default test run (excludes tests marked slow).
test: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

# Triton throughput vs. clients for the jet tagger next to an identity model (docs/benchmarks.md).
serve-bench: $(STAMP)
	$(PY) bench/serve.py

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check src tests bench examples scripts
	$(PY) -m ruff format --check src tests bench examples scripts

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache

# Two commands set everything up on a fresh machine:
#   make search   creates .venv and runs the embedded default search (digits, ~1 minute)
#   make test     creates .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv search test test-all bench lint clean

# Rebuilt only when pyproject.toml changes; otherwise the environment is reused.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

search: $(STAMP)
	$(PY) src/search.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest

# Everything, the slow tests too; installs the heavier optional runtimes (TFLite) first.
test-all: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,tflite]'
	$(PY) -m pytest -m ""

bench: $(STAMP)
	$(PY) bench/core.py
	$(PY) bench/latency.py
	$(PY) bench/search.py
	$(PY) bench/scale.py
	$(PY) bench/train.py

lint: $(STAMP)
	$(VENV)/bin/pre-commit run --all-files

clean:
	rm -rf outputs .pytest_cache .ruff_cache

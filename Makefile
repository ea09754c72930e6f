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

test-all: $(STAMP)
	$(PY) -m pytest -m ""

bench: $(STAMP)
	$(PY) bench/core.py

lint: $(STAMP)
	$(VENV)/bin/pre-commit run --all-files

clean:
	rm -rf outputs .pytest_cache .ruff_cache

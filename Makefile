# Two commands set everything up on a fresh machine:
#   make search   creates .venv and runs the embedded default search (digits, ~1 minute)
#   make test     creates .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv search test test-all bench lint clean reproduce-table1 reproduce-table4

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

# The README's result tables, each on the offline copy unpacked into data/
# (see ../shared/data/README.md), one thread per training; runs go to outputs/.
TRAIN := OMP_NUM_THREADS=1 $(PY) src/train.py recipe=cosine trainer.max_epochs=30 data.num_workers=0

# Table 4, MNIST at <= 0.23 MMAC: about 7 minutes on one core.
reproduce-table4: $(STAMP)
	$(TRAIN) data=mnist_png model=swiftnet model.metagraph=cifar10-mnasnet-seed0 \
		model.level=0.8 model.upscale=0.1 model.prune_mode=effect budget.macs=230000 hydra.run.dir=outputs/table4/swiftnet_mnas_0.8_0.1

# Table 1, CIFAR-10 at 9.2 MMAC: about 40 minutes a model on one core (the last row: the same
# meta-graph cut by the path score, depth 6 against 3).
reproduce-table1: $(STAMP)
	$(TRAIN) data=imagefolder data.root=data/cifar10-jpg model=swiftnet model.metagraph=cifar10-paper-gamma1 \
		model.level=0.65 model.upscale=1.0 model.prune_mode=effect hydra.run.dir=outputs/table1/swiftnet_0.65_1.0
	$(TRAIN) data=imagefolder data.root=data/cifar10-jpg model=swiftnet model.metagraph=cifar10-mnasnet-seed0 \
		model.level=0.92 model.upscale=1.0 model.prune_mode=effect hydra.run.dir=outputs/table1/swiftnet_mnas_0.92_1.0
	$(TRAIN) data=imagefolder data.root=data/cifar10-jpg model=swiftnet model.metagraph=cifar10-paper-gamma1 \
		model.level=0.84 model.upscale=1.0 model.prune_mode=path hydra.run.dir=outputs/table1/swiftnet_path_0.84_1.0
	$(TRAIN) data=imagefolder data.root=data/cifar10-jpg model=mobilenetv2_cifar model.width_mult=0.23 \
		hydra.run.dir=outputs/table1/mobilenetv2_cifar_0.23
	$(PY) src/summarize.py outputs/table1

lint: $(STAMP)
	$(VENV)/bin/pre-commit run --all-files

clean:
	rm -rf outputs .pytest_cache .ruff_cache

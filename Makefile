# Two commands on a fresh clone: `make repro` (set up + dvc repro), `make test` (set up + tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test params lint bench clean-data

setup: $(STAMP)

# torch 2.13.0 first: the CPU wheel. A bare `torch` requirement would pull gigabytes of CUDA.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

repro: setup
	$(BIN)/dvc repro

test: setup
	bash scripts/test_services.sh
	$(BIN)/python -m pytest

params: setup
	$(BIN)/python experiments/compose_params.py

lint: setup
	$(BIN)/ruff check tdmi experiments tests benchmarks dashboards

bench: setup
	$(BIN)/python benchmarks/data_throughput.py
	$(BIN)/python benchmarks/model_speed.py
	$(BIN)/python benchmarks/eval_speed.py
	$(BIN)/python benchmarks/dashboard_speed.py

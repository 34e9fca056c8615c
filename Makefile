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

test: lint
	bash scripts/test_services.sh
	$(BIN)/python -m pytest

params: setup
	$(BIN)/python experiments/compose_params.py

# The linter and the formatter, as pyproject.toml's [tool.ruff] configures them (make test runs this first).
LINTED := tdmi experiments tests benchmarks dashboards
lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

bench: setup
	$(BIN)/python benchmarks/data_throughput.py
	$(BIN)/python benchmarks/model_speed.py
	$(BIN)/python benchmarks/eval_speed.py
	$(BIN)/python benchmarks/dashboard_speed.py

# Everyday commands in the project's environment, no activation needed (README: "Entering the
# environment"). Extra arguments: make sweep ARGS='sweep.n_trials=10', make dashboard ARGS='--server.port 8600'.
.PHONY: dashboard mlflow-ui sweep
ARGS ?=
MLFLOW_URI = $(or $(MLFLOW_TRACKING_URI),sqlite:///$(CURDIR)/mlruns.db)

# Bound to this machine, no usage statistics, on the command line: .streamlit/config.toml is read
# only when streamlit starts in this folder.
dashboard: setup
	$(BIN)/streamlit run dashboards/app.py --server.address 127.0.0.1 --browser.gatherUsageStats false $(ARGS)

# The runs, on this machine only (http://127.0.0.1:5000); from elsewhere: ssh -L 5000:127.0.0.1:5000 HOST
mlflow-ui: setup
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri $(MLFLOW_URI) $(ARGS)

sweep: setup
	$(BIN)/python experiments/sweep.py $(ARGS)

# lndbayes: `make help` lists the targets. `make reports` and `make test` set up everything
# they need (a virtual environment in .venv with Python >= 3.12) on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
LNDB   := $(VENV)/bin/lndbayes
STAMP  := $(VENV)/.installed
# Optional: make reports DATA=path/to/data-root (holding raw/); default: data/ if it holds
# raw/programs.yaml, else the built-in example organisation in data/synthetic/.
DATA   ?=
DATA_ARG := $(if $(DATA),--data $(DATA),)
PYTEST_ARGS ?=
# Two pytest workers, one test module each (see tests/conftest.py): numba compilation is
# single-threaded, so one process left the second core mostly idle (whole suite on the 2-core
# VM, 249 tests: 16 min 07 s in one process, 10 min 26 s with two workers; 253 tests on
# 2026-11-23: 8 min 24 s with two workers).
# `make test XDIST=` runs in one process.
XDIST  ?= -n 2 --dist loadgroup

.PHONY: help venv data reports report test test-fast test-slow bench lab clean clean-data

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt
	@set -e; py=$$(scripts/find-python); \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$py"; "$$py" -m venv $(VENV); fi; \
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true; \
	echo "Installing lndbayes and its dependencies (about a minute on a fresh machine)"; \
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' ; \
	test $${PIPESTATUS[0]} -eq 0; \
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lndbayes)" >/dev/null; \
	touch $(STAMP)

venv: $(STAMP) ## create the virtual environment (.venv) and install lndbayes into it

data: $(STAMP) ## simulate the example organisation if needed, ingest and validate, print the ledger
	$(LNDB) ingest $(DATA_ARG)

reports: $(STAMP) ## the main job: ingest, fit every program, write reports/ and reports/index.html
	$(LNDB) report $(DATA_ARG)

report: $(STAMP) ## one program's report: make report PROGRAM=<id>
	@test -n "$(PROGRAM)" || { echo "Say which program: make report PROGRAM=<id> (ids are in programs.yaml)"; exit 2; }
	$(LNDB) report --program $(PROGRAM) $(DATA_ARG)

test: $(STAMP) ## the test suite (what CI runs)
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: $(STAMP) ## the suite without the slow statistical checks
	$(PY) -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

test-slow: $(STAMP) ## only the slow statistical checks (coverage, calibration)
	$(PY) -m pytest -m slow $(XDIST) $(PYTEST_ARGS)

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	@echo "Installing the benchmark extra (Bambi, to compare with)"; \
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,bench]" 2>&1 | grep -v '^WARNING: Location' ; \
	test $${PIPESTATUS[0]} -eq 0; touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## the benchmarks against peers (PyMC, Bambi, MixedLM): benchmarks/results.md
	$(PY) benchmarks/run_all.py

lab: $(STAMP) ## open JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks/

clean-data: ## remove generated data (the example organisation, interim and processed files)
	rm -rf data/synthetic data/interim data/processed

clean: clean-data ## remove generated data, reports, caches and the virtual environment
	rm -rf reports/* .cache $(VENV)
	touch reports/.gitkeep

# Two entry points: `make repro` (set up, run the main job) and `make test` (set up, run the tests).
# pipefail: a failing pip fails make, even piped through the filter below.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup repro test test-slow readme-table

setup: $(STAMP)

# pip takes torch/torchvision from the wheels on this machine's disk (pinned in pyproject.toml).
# pip byte-compiles on one core, compileall -j 0 on all of them: 2 min 22 s became 1 min 50 s on 2 cores.
# Its exit status is ignored: some packages ship files that are not meant to compile (templates, py2 examples).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -e '.[dev]' 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	$(BIN)/python -c "import ms2mnet, torch, timm, fvcore"
	touch $(STAMP)

# The main job: the DVC pipeline (params.yaml: synthetic data, smoke profile, every model and variant, 2 seeds).
repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/pytest

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

# Rewrites the measured complexity table in README.md (takes a few minutes on a 2-core CPU).
readme-table: $(STAMP)
	$(BIN)/ms2mnet models --measure --update-readme README.md

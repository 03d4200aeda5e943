# Two entry points: `make repro` (set up, run the main job) and `make test` (set up, run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup repro test test-slow readme-table

setup: $(STAMP)

# pip takes torch/torchvision from the wheels on this machine's disk (pinned in pyproject.toml).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	$(BIN)/python -c "import ms2mnet, torch, timm, fvcore"
	touch $(STAMP)

# The main job. Until the DVC pipeline exists: synthetic data, then one smoke run of MS2MNet.
repro: $(STAMP)
	$(BIN)/ms2mnet fetch synthetic
	$(BIN)/ms2mnet prepare synthetic
	$(BIN)/python ablations/run.py variant=full profile=smoke dataset=synthetic
	$(BIN)/python -c "import json; m = json.load(open('runs/synthetic/ms2mnet-full/seed0/metrics.json')); print({k: round(m[k], 4) for k in ('oa', 'mf1', 'miou', 'kappa')})"

test: $(STAMP)
	$(BIN)/pytest

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

# Rewrites the measured complexity table in README.md (takes a few minutes on a 2-core CPU).
readme-table: $(STAMP)
	$(BIN)/ms2mnet models --measure --update-readme README.md

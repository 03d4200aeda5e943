from pathlib import Path

import pytest

from ms2mnet.app import compose_config
from ms2mnet.data.fetch import fetch
from ms2mnet.data.prepare import prepare


@pytest.fixture(scope="session")
def prepared(tmp_path_factory) -> Path:
    """The default synthetic dataset, prepared once: returns data/prepared (holding synthetic/)."""
    root = tmp_path_factory.mktemp("data")
    fetch("synthetic", raw_root=root / "raw")
    prepare("synthetic", raw_root=root / "raw", out_root=root / "prepared")
    return root / "prepared"


@pytest.fixture
def tiny_config(tiny_overrides):
    """Compose the tiny profile (seconds: 32-pixel crops, 2 epochs of 3 iterations), reading the prepared
    synthetic data and writing runs under tmp_path."""
    return lambda *overrides: compose_config(*tiny_overrides, *overrides)


@pytest.fixture
def tiny_overrides(prepared, tmp_path) -> list[str]:
    """The command-line overrides behind `tiny_config`."""
    return [f"paths.prepared={prepared}", f"paths.runs={tmp_path}", "device=cpu", "profile=tiny"]


@pytest.fixture
def tinyseg(tiny_config, tmp_path_factory):
    """`tiny_config` for the two-layer test model (tests/extra_models/tinyseg.py): engine tests that need no
    real network run in about a second."""
    conf = tmp_path_factory.mktemp("conf")
    (conf / "model").mkdir()
    (conf / "model" / "tinyseg.yaml").write_text("name: tinyseg\nmodule: extra_models.tinyseg\n")
    return lambda *overrides: tiny_config("model=tinyseg", f"hydra.searchpath=[file://{conf}]", *overrides)

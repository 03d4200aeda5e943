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

from pathlib import Path

import pytest

from ms2mnet.data.fetch import fetch
from ms2mnet.data.prepare import prepare


@pytest.fixture(scope="session")
def prepared_synthetic(tmp_path_factory) -> Path:
    """A minimal synthetic dataset (one training and one test tile of 64x64: one evaluation window),
    prepared once: returns data/prepared (holding synthetic/)."""
    root = tmp_path_factory.mktemp("data")
    fetch("synthetic", raw_root=root / "raw", tiles=2, tile_size=(64, 64))
    prepare("synthetic", raw_root=root / "raw", out_root=root / "prepared")
    return root / "prepared"

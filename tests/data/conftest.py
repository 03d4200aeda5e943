"""Tiny synthetic archives (48x64 tiles), generated once and copied into each test's tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ms2mnet.data.synthetic import write_dataset

TINY = (48, 64)


@pytest.fixture(scope="session")
def _tiny_archives(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_raw")
    write_dataset("synthetic", root / "synthetic", tile_size=TINY)
    write_dataset("synthetic-potsdam", root / "synthetic-potsdam", tile_size=TINY)
    return root


@pytest.fixture
def raw(_tiny_archives, tmp_path) -> Path:
    """A private copy of data/raw with both synthetic datasets."""
    dest = tmp_path / "raw"
    shutil.copytree(_tiny_archives, dest)
    return dest

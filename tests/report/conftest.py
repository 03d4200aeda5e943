"""Fixture run directories with known numbers, and a tiny prepared dataset, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .run_fixtures import FULL, NO_DFE, NO_VFE, centre_crops, write_prepared, write_run


@pytest.fixture(autouse=True, scope="session")
def clean_tree():
    """Reports render from this checkout, clean or not, in these tests (test_provenance checks the refusal)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ms2mnet.report.render.source_tree", lambda: {"commit": "0123abc", "dirty": False, "changed": []})
        yield


@pytest.fixture(scope="session")
def fixture_runs(tmp_path_factory) -> Path:
    """runs/ of the `synthetic` dataset, smoke profile, as run_fixtures describes (FULL, NO_DFE, ...); returns the runs folder."""
    runs_dir = tmp_path_factory.mktemp("runs")
    crops = centre_crops()
    for seed, miou in FULL.items():
        write_run(runs_dir, "synthetic", "ms2mnet-full", seed, miou, predictions=crops)
    for seed, miou in NO_DFE.items():
        write_run(runs_dir, "synthetic", "ms2mnet-no_dfe", seed, miou, gmacs=33.34, predictions=crops)
    for seed, miou in NO_VFE.items():
        write_run(runs_dir, "synthetic", "ms2mnet-no_vfe", seed, miou, gmacs=21.41, params=23_630_000,
                  predictions=crops)
    write_run(runs_dir, "synthetic", "ms2mnet-no_asaf", 0, 0.81, gmacs=26.53)
    failed = runs_dir / "synthetic" / "smoke" / "ms2mnet-rgb_only" / "seed0"
    failed.mkdir(parents=True)
    (failed / "run.log").write_text("RuntimeError: non-finite loss at iteration 7\n")
    return runs_dir


@pytest.fixture(scope="session")
def fixture_prepared(tmp_path_factory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("prepared"), "synthetic")


@pytest.fixture(scope="session")
def scaling_file(tmp_path_factory) -> Path:
    rows = [{"what": "mixer", "name": name, "size": size, "level": level, "channels": 64, "side": size // 2,
             "tokens": (size // 2) ** 2, "gmacs": factor * size ** power / 1e6 * level, "median_ms": None,
             "p90_ms": None, "latency_note": "not measured (FLOPs only)"}
            for name, factor, power in (("mssm", 1.0, 2), ("attention", 0.01, 4))
            for size in (128, 256, 512) for level in (1, 2, 3, 4)]
    path = tmp_path_factory.mktemp("scaling") / "scaling.json"
    path.write_text(json.dumps(rows))
    return path

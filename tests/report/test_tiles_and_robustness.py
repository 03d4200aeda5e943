"""Per-tile mIoU with a planted bad tile, and the DSM robustness section."""

import json

import pytest

from ms2mnet.report.collect import collect_runs
from ms2mnet.report.robustness_table import robustness_table
from ms2mnet.report.tile_table import flagged, tile_miou, tile_table

from .run_fixtures import write_run


def matrix(correct: int, wrong: int) -> list[list[int]]:
    """Six classes; each of the five scored classes has `correct` pixels right and `wrong` sent to clutter."""
    rows = [[0] * 6 for _ in range(6)]
    for c in range(5):
        rows[c][c], rows[c][5] = correct, wrong
    rows[5][5] = 10
    return rows


def write_tiles(runs_dir, run, seed, tiles, **extra):
    folder = write_run(runs_dir, "synthetic", run, seed, 0.8, **extra)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["per_tile_confusion"] = tiles
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_tile_miou_and_the_leave_one_out_flag():
    assert tile_miou(matrix(90, 10)) == pytest.approx(90.0)
    means = {"a": 80.0, "b": 81.0, "c": 79.0, "d": 80.5, "bad": 60.0}
    assert flagged(means) == {"bad"}
    # four tiles: against a mean that includes it, a tile can be at most 1.5 SD below; left out, it is flagged
    assert flagged({"a": 80.0, "b": 81.0, "c": 79.0, "bad": 60.0}) == {"bad"}
    assert flagged({"a": 80.0, "b": 70.0, "c": 90.0, "d": 65.0}) == set()
    assert flagged({"a": 80.0, "bad": 10.0, "c": 79.0}) == set()          # two others: too few to judge


def test_a_planted_bad_tile_is_flagged(tmp_path):
    good = {t: matrix(v, 100 - v) for t, v in (("t1", 87), ("t2", 91), ("t3", 88), ("t4", 93))}
    for seed in (0, 1):
        write_tiles(tmp_path, "ms2mnet-full", seed, {**good, "t5": matrix(40, 60)})
        write_tiles(tmp_path, "ms2mnet-no_dfe", seed, {**good, "t5": matrix(89, 11)})
    runs = collect_runs(tmp_path, "synthetic", ["ms2mnet-full", "ms2mnet-no_dfe"], [0, 1], profile="smoke")
    table = tile_table(runs, "synthetic")
    assert table.columns == ["run", "model", "t1", "t2", "t3", "t4", "t5", "flagged"]
    assert table.cell("ms2mnet-full", "t5") == "40.00 ▼" and table.cell("ms2mnet-full", "flagged") == "t5"
    assert table.cell("ms2mnet-no_dfe", "flagged") == "none"
    assert table.data[0]["flagged"] == ["t5"] and table.data[0]["t5_seeds"] == 2


def test_robustness_rows_show_the_drop_from_clean(tmp_path):
    for run, drop in (("ms2mnet-full", 0.10), ("ms2mnet-rgb_only", 0.0)):
        for seed in (0, 1, 2):
            folder = write_run(tmp_path, "synthetic", run, seed, 0.80 + 0.01 * seed)
            (folder / "robustness").mkdir()
            (folder / "robustness" / "zero.json").write_text(json.dumps({"dsm": "zero",
                                                                         "miou": 0.80 + 0.01 * seed - drop}))
    runs = collect_runs(tmp_path, "synthetic", ["ms2mnet-rgb_only", "ms2mnet-full"], [0, 1, 2], profile="smoke")
    table = robustness_table(runs, "synthetic")
    assert table.columns == ["run", "model", "uses DSM", "clean", "zero", "Δ zero"]
    assert [r[0] for r in table.rows] == ["ms2mnet-full", "ms2mnet-rgb_only"]     # multimodal first
    assert table.cell("ms2mnet-full", "Δ zero") == "-10.00 ± 0.00"
    assert table.cell("ms2mnet-rgb_only", "uses DSM") == "no (reference)"
    assert table.cell("ms2mnet-rgb_only", "Δ zero") == "+0.00 ± 0.00"

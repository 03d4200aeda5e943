"""`ms2mnet bench cost`: hours of a matrix from measured speeds, with a total (CPU, tiny settings)."""

import json

import pytest

from ms2mnet.bench.cost import Schedule, cost_rows, markdown, schedule, windows_of_test_set
from ms2mnet.cli import main
from ms2mnet.models import import_model_module

import_model_module("extra_models.tinyseg")     # registers tinyseg, a two-layer test model


def test_hours_follow_from_the_schedule_and_the_measured_rates():
    plan = schedule("p", {"epochs": 2, "iterations_per_epoch": 10, "batch_size": 5, "crop": 32},
                    {"window": 32, "stride": 32}, tiles=[(64, 96), (64, 96)], selection="test_best")
    assert plan == Schedule("p", 100, 3, 2 * 2 * 3, 32, 32, 32)
    measured = {"a": {"train_img_s": 100 / 3600, "eval_windows_s": 12 / 3600, "train_size": 32, "eval_window": 32,
                      "device_name": "Test CPU", "device": "cpu"}}
    rows = cost_rows(["a", "b"], 3, plan, measured)
    assert rows[0]["train_h"] == pytest.approx(1.0) and rows[0]["eval_h"] == pytest.approx(3.0)  # 3 x 12 windows
    assert rows[0]["total_h"] == pytest.approx(12.0) and rows[1]["total_h"] is None
    text = markdown(rows, plan, "vaihingen", "test_best")
    assert "| **total** | | | | | | **12.00** (without b) |" in text
    assert "CPU figures only" in text and "other sizes" not in text


def test_the_cli_measures_and_prints_a_matrix_total(tmp_path, capsys):
    out = tmp_path / "cost.json"
    assert main(["bench", "cost", "--runs", "tinyseg", "--seeds", "2", "--dataset", "vaihingen", "--profile", "tiny",
                 "--measure", "--size", "32", "--batch", "2", "--steps", "1", "--warmup", "0", "--tiles", "1",
                 "--tile-size", "64x64", "--window", "64", "--stride", "48", "--device", "cpu", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["run"] == "tinyseg" and rows[0]["total_h"] > 0
    assert f"**{rows[0]['total_h']:.2f}**" in text
    windows = windows_of_test_set(4, (2494, 2064), 64, 48)
    assert f"of {windows:,} windows (window 64, stride 48)" in text and "CPU figures only" in text

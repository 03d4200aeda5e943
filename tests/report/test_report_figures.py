"""The figures' reading aids (intervals clipped, ranges from the data, stars as the table says, losses named),
the DSM-effect verdict and the per-dataset/profile report index: no rendering beyond what they need."""

import json

import numpy as np
import pytest

from ms2mnet.cli.report import from_params
from ms2mnet.report.collect import collect_runs
from ms2mnet.report.dsm_effect import dsm_effect, dsm_effect_lines
from ms2mnet.report.figures.ablation_deltas import significance_marks, x_range
from ms2mnet.report.figures.accuracy_cost import clipped_interval
from ms2mnet.report.figures.training import loss_name
from ms2mnet.report.index import write_index

from .run_fixtures import write_run


def test_intervals_are_clipped_to_0_100():
    below_above = clipped_interval(np.array([95.0, 3.0, 50.0]), np.array([10.0, 5.0, np.nan]))
    np.testing.assert_allclose(below_above, [[10.0, 3.0, 0.0], [5.0, 5.0, 0.0]])


def test_delta_range_covers_zero_and_every_interval():
    low, high = x_range(np.array([-19.0, 1.0]), np.array([0.5, 2.0]))
    assert low < -19.5 and high > 3.0 and high - low < 30


def test_stars_exactly_where_the_table_says_significant():
    rows = [{"variant": "rgb_only", "delta_miou_significant": True, "delta_mf1_significant": False,
             "delta_oa_significant": None},
            {"variant": "no_vfe", "delta_miou_significant": None, "delta_mf1_significant": None,
             "delta_oa_significant": True}]
    assert significance_marks(rows) == {("rgb_only", "miou"), ("no_vfe", "oa")}


@pytest.mark.parametrize("model, name", [
    ({"loss": "paper", "aux_weights": [0.4, 0.4]}, "staged CE+focal+boundary CE+Lovász, 2 aux heads"),
    ({"loss": "ce", "loss_weights": {"label_smoothing": 0.05, "dice": 1.0}, "aux_weights": [0.4]},
     "smoothed CE + Dice, 1 aux head"),
    ({"loss": "ce", "loss_weights": {"class_weights": [1.0, 2.0]}, "aux_weights": []}, "CE (class-weighted)")])
def test_each_panel_names_its_loss(model, name):
    assert loss_name(model) == name


def test_dsm_effect_is_the_paired_verdict_on_building_iou(tmp_path):
    for seed, (full, rgb) in enumerate([(0.80, 0.60), (0.82, 0.61), (0.84, 0.65)]):
        write_run(tmp_path, "synthetic", "ms2mnet-full", seed, full, profile="demo")
        write_run(tmp_path, "synthetic", "ms2mnet-rgb_only", seed, rgb, profile="demo")
    runs = collect_runs(tmp_path, "synthetic", ["ms2mnet-full", "ms2mnet-rgb_only"], [0, 1, 2], profile="demo")
    effect = dsm_effect(runs)
    assert effect["building IoU"]["delta_mean"] == pytest.approx(20.0) and effect["building IoU"]["pairs"] == 3
    assert effect["building IoU"]["significant"] and effect["building IoU"]["verdict"].startswith("DSM helps")
    assert "| building IoU | +20.00 ± " in "\n".join(dsm_effect_lines(effect))
    assert dsm_effect(runs[:1]) is None and dsm_effect_lines(None) == []


def test_index_links_every_dataset_and_profile(tmp_path):
    for dataset, profile in (("synthetic", "demo"), ("synthetic", "smoke"), ("vaihingen", "paper")):
        folder = tmp_path / dataset / profile
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"dataset": dataset, "profile": profile, "runs": ["a", "b"],
                                                         "seeds": [0], "missing": []}))
    text = write_index(tmp_path).read_text()
    for folder in ("synthetic/demo", "synthetic/smoke", "vaihingen/paper"):
        assert f"[{folder}/README.md]({folder}/README.md)" in text
    assert "pipeline check only" in text and "learning demo" in text


def test_params_section_gives_the_smoke_pass(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("dataset: synthetic\nprofile: demo\nruns: [ms2mnet-full]\nseeds: [0, 1, 2]\n"
                      "smoke: {profile: smoke, runs: [fusenet], seeds: [0]}\n")
    assert from_params(params, "smoke") == ("synthetic", "smoke", ["fusenet"], [0])
    with pytest.raises(ValueError, match="no section 'other'"):
        from_params(params, "other")

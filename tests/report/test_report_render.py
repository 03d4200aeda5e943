import json

import numpy as np
import pytest
from PIL import Image

from ms2mnet.engine.evaluate import centre_box
from ms2mnet.report import render_report
from ms2mnet.report.figures.mosaic import crop_box, tile_panels
from ms2mnet.report.figures.training import read_losses
from ms2mnet.report.render import mosaic_rows
from ms2mnet.report.collect import collect_runs
from ms2mnet.data.palette import class_to_colour
from ms2mnet.data.store import TileStore

from .run_fixtures import CROP, RUNS, SEEDS, TEST_TILES, TILE_SHAPE, prepared_labels

FIGURES = ("accuracy_cost", "ablation", "per_class_iou", "scaling", "training", "mosaic")


@pytest.fixture(scope="module")
def rendered(fixture_runs, fixture_prepared, scaling_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    summary = render_report("synthetic", fixture_runs, fixture_prepared, out, RUNS, SEEDS, scaling=scaling_file,
                            profile="smoke")
    return out, summary


def test_every_output_is_written(rendered):
    out, summary = rendered
    for name in ("main", "ablation", "per_class_iou", "per_class_f1"):
        assert (out / f"{name}.csv").stat().st_size > 0 and (out / f"{name}.tex").stat().st_size > 0
    for name in FIGURES:
        with Image.open(out / "figures" / f"{name}.png") as image:
            assert image.format == "PNG" and min(image.size) > 200
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert not list(out.rglob(".*.tmp-*"))   # atomic writes leave no temporary files


def test_readme_header_lists_provenance_and_missing_runs(rendered):
    out, summary = rendered
    text = (out / "README.md").read_text()
    assert text.startswith("# Benchmark report: synthetic")
    assert "**Synthetic data, not paper numbers.**" in text
    assert "- Seeds: 0, 1, 2" in text and "- Commit of the runs: abc123" in text
    assert "sliding window 64, stride 32, flip TTA off" in text
    assert "`ms2mnet-no_dfe` seed 2: not run (no run directory)" in text
    assert "`ms2mnet-rgb_only` seed 0: failed or unfinished (run directory without metrics.json)" in text
    assert sum(line.startswith("  - `ms2mnet-attention` seed") for line in text.splitlines()) == 3
    assert len(summary["missing"]) == 1 + 2 + 3 + 3   # seeds of no_dfe, no_asaf, rgb_only, attention


def test_readme_tables_have_the_right_cells(rendered):
    text = (rendered[0] / "README.md").read_text()
    assert "## 1. Main comparison (synthetic; synthetic data, not paper numbers)" in text
    assert "## 4. Per-tile mIoU" in text and "## 5. DSM robustness" not in text   # no `ms2mnet evaluate` yet
    assert "| ms2mnet-full | MS2MNet | 2x ResNet-50 | not recorded | 47.34 | 33.39 | 36.42 | 400 | 92.00 ± 4.97 | 87.00 ± 4.97 | " \
           "82.00 ± 4.97 | 3/3 |" in text
    assert "| ms2mnet-attention | MS2MNet (attention) | 2x ResNet-50 | missing | missing | missing | missing | missing | missing | " \
           "missing | missing | 0/3 |" in text
    assert "| no_vfe | 71.00 ± 2.48 | -11.00 ± 2.48 | 0.003 (yes) |" in text
    assert "## 3a. Per-class IoU (synthetic; synthetic data" in text
    assert "![Qualitative mosaic](figures/mosaic.png)" in text
    assert "## Notes" not in text                       # every figure was drawn


def test_summary_numbers(rendered):
    summary = rendered[1]
    full = next(r for r in summary["tables"]["main"] if r["run"] == "ms2mnet-full")
    assert full["miou_mean"] == pytest.approx(82.0) and full["miou_n"] == 3
    attention = next(r for r in summary["tables"]["main"] if r["run"] == "ms2mnet-attention")
    assert attention["miou_mean"] is None and attention["status"] == "missing"
    assert summary["synthetic"] is True and summary["figures"]["Mixer scaling"] == "figures/scaling.png"


def test_without_scaling_file_the_figure_is_skipped_with_a_note(fixture_runs, fixture_prepared, tmp_path):
    summary = render_report("synthetic", fixture_runs, tmp_path / "no-prepared", tmp_path / "out",
                            ["ms2mnet-full", "ms2mnet-attention"], [0, 1], profile="smoke")
    assert summary["figures"]["Mixer scaling"] is None and summary["figures"]["Qualitative mosaic"] is None
    text = (tmp_path / "out" / "README.md").read_text()
    assert "Mixer scaling figure skipped: no `--scaling FILE.json` given" in text
    assert "Qualitative mosaic skipped" in text and "ms2mnet prepare" in text
    assert "Ablation deltas figure skipped: no variant has metrics" in text   # attention never ran


def test_nothing_to_report_still_renders_missing(tmp_path):
    summary = render_report("synthetic", tmp_path / "runs", tmp_path / "prepared", tmp_path / "out",
                            ["ms2mnet-full"], [0], profile="smoke")
    assert summary["tables"]["main"][0]["miou_mean"] is None
    assert "| ms2mnet-full | MS2MNet | 2x ResNet-50 | missing | missing |" in (tmp_path / "out" / "README.md").read_text()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="at least one run"):
        render_report("synthetic", tmp_path, tmp_path, tmp_path / "out", [], [0], profile="smoke")
    with pytest.raises(FileNotFoundError, match="ms2mnet bench scaling"):
        render_report("synthetic", tmp_path, tmp_path, tmp_path / "out", ["ms2mnet-full"], [0],
                      scaling=tmp_path / "absent.json", profile="smoke")


@pytest.mark.parametrize("shape, side", [((40, 48), 24), ((41, 47), 24), ((40, 48), 40), ((30, 100), 64)])
def test_crop_box_is_the_box_evaluation_saved(shape, side):
    pixels = np.arange(shape[0] * shape[1]).reshape(shape)
    saved = pixels[centre_box(*shape, side)]
    np.testing.assert_array_equal(pixels[crop_box(*shape, *saved.shape)], saved)


def test_mosaic_rows_show_the_ground_truth_under_each_prediction(fixture_runs, fixture_prepared):
    results = collect_runs(fixture_runs, "synthetic", ["ms2mnet-no_asaf", "ms2mnet-no_dfe", "ms2mnet-full"], SEEDS,
                           profile="smoke")
    # by default MS2MNet full and the baselines, not its variants
    assert [p.label for p in mosaic_rows(results, list(TEST_TILES))["area5"]] == ["ms2mnet-full, seed 0"]
    rows = mosaic_rows(results, list(TEST_TILES), ["ms2mnet-full", "ms2mnet-no_asaf", "ms2mnet-no_dfe"])
    # no_asaf saved no predictions, so it is left out
    assert [p.label for p in rows["area5"]] == ["ms2mnet-full, seed 0", "ms2mnet-no_dfe, seed 0"]
    panels = tile_panels(TileStore(fixture_prepared / "synthetic"), "area21", rows["area21"])
    titles = [title for title, _, _ in panels]
    assert titles[:3] == ["image (bands 1-3 as RGB)", "DSM (stretched per crop)", "ground truth (eroded)"]
    truth = class_to_colour(prepared_labels(1)[centre_box(*TILE_SHAPE, CROP)])
    for _, array, _ in panels[2:]:    # fixture predictions are perfect: each equals the ground-truth crop
        np.testing.assert_array_equal(array, truth)
    assert panels[0][1].shape == (CROP, CROP, 3) and panels[1][1].shape == (CROP, CROP)


def test_training_logs_are_read_per_seed(fixture_runs):
    folder = fixture_runs / "synthetic" / "smoke" / "ms2mnet-full"
    losses = read_losses({"ms2mnet-full": [folder / "seed0", folder / "seed1"], "ms2mnet-attention":
                          [fixture_runs / "synthetic" / "smoke" / "ms2mnet-attention" / "seed0"]})
    assert len(losses) == 6 and set(losses["run"]) == {"ms2mnet-full"}
    assert losses.groupby("step")["loss"].mean().loc[5] == pytest.approx(2.0 / 5 + 0.5)


def test_an_empty_ablation_table_says_so(fixture_runs, tmp_path):
    render_report("synthetic", fixture_runs, tmp_path, tmp_path / "out", ["ms2mnet-full"], [0, 1, 2],
                  profile="smoke")
    text = (tmp_path / "out" / "README.md").read_text()
    assert "## 2. Ablations against MS2MNet full" in text
    assert "_No run in `--runs` belongs in this table._" in text

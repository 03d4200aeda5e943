import csv
import io

import pytest
import torch

from ms2mnet.models import register_model
from ms2mnet.report.ablation_table import ablation_table
from ms2mnet.report.class_table import class_table
from ms2mnet.report.collect import collect_runs
from ms2mnet.report.main_table import main_table
from ms2mnet.report.published import load_references
from ms2mnet.report.table import to_csv, to_latex, to_markdown

from .run_fixtures import RUNS, SEEDS, write_references, write_run


@pytest.fixture(scope="module")
def results(fixture_runs):
    return collect_runs(fixture_runs, "synthetic", RUNS, SEEDS, profile="smoke")


def test_collect_tells_missing_from_failed(results):
    by_name = {r.name: r for r in results}
    assert [s.seed for s in by_name["ms2mnet-no_dfe"].problems] == [2]
    assert "no run directory" in by_name["ms2mnet-no_dfe"].seeds[2].problem
    assert "without metrics.json" in by_name["ms2mnet-rgb_only"].seeds[0].problem
    assert by_name["ms2mnet-attention"].ok_seeds == []
    assert (by_name["ms2mnet-attention"].model, by_name["ms2mnet-attention"].variant) == ("ms2mnet", "attention")
    assert by_name["ms2mnet-full"].values("miou") == pytest.approx({0: 80.0, 1: 82.0, 2: 84.0})


def test_main_table_cells(results):
    table = main_table(results, "synthetic", SEEDS)
    assert table.cell("ms2mnet-full", "mIoU") == "82.00 ± 4.97"      # t(0.975, 2) * 2 / sqrt(3)
    assert table.cell("ms2mnet-full", "OA") == "92.00 ± 4.97"
    assert table.cell("ms2mnet-full", "mF1") == "87.00 ± 4.97"
    assert table.cell("ms2mnet-full", "params (M)") == "47.34"
    assert table.cell("ms2mnet-full", "GMACs (fvcore, eval)") == "33.39"
    assert table.cell("ms2mnet-full", "GMACs (train+aux, as thop)") == "36.42"   # both counts, labelled
    assert table.cell("ms2mnet-full", "latency (ms)") == "400"
    assert table.cell("ms2mnet-full", "backbone") == "2x ResNet-50"
    assert table.cell("ms2mnet-full", "model") == "MS2MNet"
    assert table.cell("ms2mnet-no_dfe", "mIoU") == "78.50 (n=2)"    # two seeds: no interval printed
    assert table.cell("ms2mnet-no_dfe", "seeds") == "2/3"
    assert table.cell("ms2mnet-no_vfe", "GMACs (fvcore, eval)") == "21.41"
    assert table.cell("ms2mnet-no_asaf", "mIoU") == "81.00 (n=1)"
    assert table.cell("ms2mnet-rgb_only", "backbone") == "ResNet-50"
    for run in ("ms2mnet-rgb_only", "ms2mnet-attention"):
        for column in ("OA", "mF1", "mIoU", "params (M)", "GMACs (fvcore, eval)", "GMACs (train+aux, as thop)", "latency (ms)"):
            assert table.cell(run, column) == "missing"
        assert table.cell(run, "seeds") == "0/3"
    # synthetic data: no paper columns, and the title and caption say why
    assert not any(c.startswith("paper") for c in table.columns)
    assert "synthetic data, not paper numbers" in table.title
    assert "Paper numbers are omitted" in table.caption


def test_ablation_table_cells(results):
    table = ablation_table(results, "synthetic")
    assert [row[0] for row in table.rows] == ["no_dfe", "no_vfe", "no_asaf", "rgb_only", "attention"]
    assert table.cell("no_dfe", "Δ mIoU") == "-2.50 (n=2)"            # differences -2, -3 (seed 2 missing): no interval
    assert table.cell("no_dfe", "p (mIoU)") == "0.126"                # t = -5 with 1 dof: 2 pairs, no verdict
    assert table.cell("no_dfe", "pairs") == "2"
    assert table.cell("no_vfe", "Δ mIoU") == "-11.00 ± 2.48"
    assert table.cell("no_vfe", "p (mIoU)") == "0.003 (yes)"          # t = -19.05 with 2 dof
    assert table.cell("no_vfe", "Δ OA") == "-11.00 ± 2.48"
    assert table.cell("no_asaf", "Δ mIoU") == "+1.00 (n=1)"
    assert table.cell("no_asaf", "p (mIoU)") == "n/a"
    for variant in ("rgb_only", "attention"):
        assert table.cell(variant, "Δ mIoU") == "missing"
        assert table.cell(variant, "mIoU") == "missing"
        assert table.cell(variant, "p (OA)") == "n/a"
    assert "paired t-test" in table.caption
    record = next(r for r in table.data if r["variant"] == "no_vfe")
    assert record["delta_miou_significant"] is True
    assert record["delta_miou_p"] == pytest.approx(1 - 11 * 3 ** 0.5 / (363 + 2) ** 0.5)


def test_per_class_tables(results):
    iou = class_table(results, "synthetic", "iou")
    assert iou.cell("ms2mnet-full", "impervious") == "82.00 ± 4.97"
    assert iou.cell("ms2mnet-full", "clutter") == "87.00 ± 4.97"
    assert iou.cell("ms2mnet-no_asaf", "building") == "82.00 (n=1)"
    assert iou.cell("ms2mnet-attention", "car") == "missing"
    f1 = class_table(results, "synthetic", "f1")
    assert f1.cell("ms2mnet-full", "tree") == "90.00 ± 4.97"
    with pytest.raises(ValueError, match="expected one of"):
        class_table(results, "synthetic", "precision")


def test_csv_keeps_numbers_and_leaves_missing_empty(results):
    rows = list(csv.DictReader(io.StringIO(to_csv(main_table(results, "synthetic", SEEDS)))))
    full = next(r for r in rows if r["run"] == "ms2mnet-full")
    assert float(full["miou_mean"]) == pytest.approx(82.0)
    assert float(full["miou_ci95"]) == pytest.approx(4.9683, abs=1e-4)
    assert full["note"] == "synthetic data, not paper numbers"
    attention = next(r for r in rows if r["run"] == "ms2mnet-attention")
    assert attention["miou_mean"] == "" and attention["gmacs"] == "" and attention["status"] == "missing"
    one_seed = next(r for r in rows if r["run"] == "ms2mnet-no_asaf")
    assert one_seed["miou_ci95"] == "" and one_seed["status"] == "partial"


def test_markdown_and_latex_renderings(results):
    table = main_table(results, "synthetic", SEEDS)
    markdown = to_markdown(table).splitlines()
    assert markdown[0].startswith("| run | model | backbone |")
    assert len(markdown) == 2 + len(RUNS)
    assert "| ms2mnet-full | MS2MNet | 2x ResNet-50 | not recorded | 47.34 | 33.39 | 36.42 | 400 | 92.00 ± 4.97 |" in markdown[2]
    latex = to_latex(table)
    assert r"82.00 $\pm$ 4.97" in latex and r"ms2mnet-no\_dfe" in latex
    assert r"\caption{Main comparison (synthetic; synthetic data, not paper numbers)." in latex
    assert latex.count(r"\\") == 1 + len(RUNS)


@register_model("paperbaseline", label="PaperBaseline", backbone="VGG-16")
def paperbaseline(num_classes: int = 6, pretrained: bool = False) -> torch.nn.Module:
    return torch.nn.Conv2d(3, num_classes, 1)


def test_real_dataset_shows_paper_numbers_and_differences(tmp_path):
    write_run(tmp_path, "vaihingen", "ms2mnet-full", 0, 0.83)
    write_run(tmp_path, "vaihingen", "ms2mnet-full", 1, 0.85)
    write_run(tmp_path, "vaihingen", "paperbaseline", 0, 0.78, mf1=0.88, oa=0.905, selection="test_best")
    write_run(tmp_path, "vaihingen", "ms2mnet-no_dfe", 0, 0.80)
    results = collect_runs(tmp_path, "vaihingen", ["ms2mnet-full", "paperbaseline", "ms2mnet-no_dfe"], [0, 1],
                           profile="smoke")
    refs = write_references(tmp_path / "refs", "vaihingen", {"paperbaseline": {"oa": 90.51, "mf1": 87.71, "miou": 78.71},
                                                              "ms2mnet": {"miou": 84.14}}, checked=True)
    table = main_table(results, "vaihingen", [0, 1], load_references("vaihingen", refs))
    assert table.title == "Main comparison (vaihingen)"
    assert table.cell("ms2mnet-full", "mIoU") == "84.00 (n=2)"     # two seeds: no interval is printed
    assert table.cell("ms2mnet-full", "paper OA / mF1 / mIoU") == "– / – / 84.14"
    assert table.cell("ms2mnet-full", "Δ OA / mF1 / mIoU") == "– / – / -0.14"
    assert table.cell("paperbaseline", "model") == "PaperBaseline †"           # test-set selection is marked
    assert table.cell("paperbaseline", "backbone") == "VGG-16"
    assert table.cell("paperbaseline", "paper OA / mF1 / mIoU") == "90.51 / 87.71 / 78.71"
    assert table.cell("paperbaseline", "Δ OA / mF1 / mIoU") == "-0.01 / +0.29 / -0.71"
    assert table.cell("ms2mnet-no_dfe", "paper OA / mF1 / mIoU") == "– / – / –"   # no published ablation
    assert "† checkpoint selected on the test set" in table.caption
    baseline = next(r for r in table.data if r["run"] == "paperbaseline")
    assert baseline["paper_miou"] == 78.71 and baseline["delta_miou"] == pytest.approx(-0.71)
    assert baseline["paper_source"] == "a test table"


def test_runs_without_a_common_seed_are_not_paired(tmp_path):
    write_run(tmp_path, "synthetic", "ms2mnet-full", 0, 0.80)
    write_run(tmp_path, "synthetic", "ms2mnet-no_dfe", 1, 0.75)
    runs = collect_runs(tmp_path, "synthetic", ["ms2mnet-full", "ms2mnet-no_dfe"], [0, 1], profile="smoke")
    table = ablation_table(runs, "synthetic")
    assert table.cell("no_dfe", "mIoU") == "75.00 (n=1)"
    assert table.cell("no_dfe", "Δ mIoU") == "no paired seed"
    assert table.cell("no_dfe", "p (mIoU)") == "n/a"
    assert table.data[0]["delta_miou_mean"] is None and table.data[0]["miou_mean"] == 75.0

"""The verdict table: rendered for real datasets from fixture runs, never for synthetic ones."""

import json

import pytest
from torch import nn

from ms2mnet.models import Reported, register_model
from ms2mnet.models import registry
from ms2mnet.report import render_report
from ms2mnet.report.collect import collect_runs
from ms2mnet.report.stats import Estimate
from ms2mnet.report.verdict import NO_INTERVAL, verdict, verdict_table

from .run_fixtures import RUNS, SEEDS, write_run

# A model that publishes all three metrics (MS2MNet publishes mIoU only), registered for these tests alone.
PUBLISHED = Reported(90.0, 88.0, 80.0, "Test et al. 2099, Table 1")


@pytest.fixture(scope="module")
def verdictnet():
    register_model("verdictnet", label="VerdictNet", backbone="none",
                   reported={"vaihingen": PUBLISHED})(lambda num_classes=6, pretrained=False: nn.Identity())
    yield "verdictnet"
    registry._REGISTRY.pop("verdictnet")


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, verdictnet):
    runs_dir = tmp_path_factory.mktemp("runs")
    # ms2mnet-full: mIoU 83, 84, 85 -> 84.00 ± 2.48, which holds the published 84.14.
    for seed, miou in enumerate((0.83, 0.84, 0.85)):
        write_run(runs_dir, "vaihingen", "ms2mnet-full", seed, miou, selection="test_best")
        write_run(runs_dir, "vaihingen", "ms2mnet-no_dfe", seed, miou - 0.02)
    # verdictnet: OA 81 ± 2.48 (below 90), mF1 91 ± 2.48 (above 88), mIoU 80 ± 2.48 (holds 80).
    for seed, step in enumerate((0.0, 0.01, 0.02)):
        write_run(runs_dir, "vaihingen", verdictnet, seed, 0.79 + step, mf1=0.90 + step, oa=0.80 + step)
    # Potsdam: one seed only, so no interval and no verdict.
    write_run(runs_dir, "potsdam", "ms2mnet-full", 0, 0.86)
    return runs_dir


def test_verdict_words():
    assert verdict(84.14, Estimate(84.0, 2.48, 3)) == "reproduced"
    assert verdict(84.14, Estimate(80.0, 1.0, 3)) == "below by 4.14"
    assert verdict(84.14, Estimate(86.0, 1.0, 3)) == "above by 1.86"
    assert verdict(84.14, Estimate(84.14, None, 1)) == NO_INTERVAL
    assert verdict(84.14, Estimate(None, None, 0)) == "missing"


def test_verdict_table_rows(real_runs, verdictnet):
    runs = collect_runs(real_runs, "vaihingen", ["ms2mnet-full", "ms2mnet-no_dfe", verdictnet], [0, 1, 2],
                        profile="smoke")
    table = verdict_table(runs, "vaihingen")
    got = {(row[0], row[2]): row for row in table.rows}
    # Ablation variants have no published number; MS2MNet publishes mIoU only.
    assert set(got) == {("ms2mnet-full", "mIoU"), (verdictnet, "OA"), (verdictnet, "mF1"), (verdictnet, "mIoU")}
    assert got[("ms2mnet-full", "mIoU")][3:9] == ["84.14", "84.00 ± 2.48", "3", "reproduced", "test_best", "smoke"]
    assert got[(verdictnet, "OA")][6] == "below by 9.00"
    assert got[(verdictnet, "mF1")][6] == "above by 3.00"
    assert got[(verdictnet, "mIoU")][6] == "reproduced"
    assert got[(verdictnet, "OA")][9] == PUBLISHED.source


def test_report_for_a_real_dataset_has_the_verdict(real_runs, verdictnet, fixture_prepared, tmp_path):
    runs = ["ms2mnet-full", "ms2mnet-no_dfe", verdictnet]
    summary = render_report("vaihingen", real_runs, fixture_prepared, tmp_path, runs, [0, 1, 2], profile="smoke")
    text = (tmp_path / "README.md").read_text()
    assert "## 1b. Verdict against the papers (vaihingen)" in text
    assert "| ms2mnet-full | MS2MNet | mIoU | 84.14 | 84.00 ± 2.48 | 3 | reproduced | test_best | smoke |" in text
    assert (tmp_path / "verdict.csv").is_file() and (tmp_path / "verdict.tex").is_file()
    verdicts = {(r["run"], r["metric"]): r["verdict"] for r in summary["tables"]["verdict"]}
    assert verdicts[(verdictnet, "oa")] == "below by 9.00"
    assert json.loads((tmp_path / "summary.json").read_text())["tables"]["verdict"][0]["paper"] == 84.14


def test_one_seed_gives_no_verdict(real_runs, fixture_prepared, tmp_path):
    summary = render_report("potsdam", real_runs, fixture_prepared, tmp_path, ["ms2mnet-full"], [0], profile="smoke")
    [row] = summary["tables"]["verdict"]
    assert row["paper"] == 86.21 and row["verdict"] == NO_INTERVAL and row["ci95"] is None
    assert f"| 86.21 | 86.00 (n=1) | 1 | {NO_INTERVAL} |" in (tmp_path / "README.md").read_text()


def test_never_for_synthetic_data(fixture_runs, fixture_prepared, tmp_path):
    summary = render_report("synthetic", fixture_runs, fixture_prepared, tmp_path, RUNS, SEEDS, profile="smoke")
    assert "verdict" not in summary["tables"]
    assert not (tmp_path / "verdict.csv").exists()
    assert "Verdict" not in (tmp_path / "README.md").read_text()
    with pytest.raises(ValueError, match="synthetic"):
        verdict_table(collect_runs(fixture_runs, "synthetic", RUNS, SEEDS, profile="smoke"), "synthetic")

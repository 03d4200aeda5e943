"""The verdict: an equivalence test (TOST) against a margin, for hand-made cases, in the table and the report."""

import json

import pytest
from torch import nn

from ms2mnet.models import register_model
from ms2mnet.models import registry
from ms2mnet.report import render_report
from ms2mnet.report.ablation_verdict import ablation_verdict_table
from ms2mnet.report.collect import collect_runs
from ms2mnet.report.published import References, load_references
from ms2mnet.report.verdict import INCONCLUSIVE, REPRODUCED, equivalence, verdict_table

from .run_fixtures import RUNS, SEEDS, write_references, write_run

PUBLISHED = {"oa": 90.0, "mf1": 88.0, "miou": 80.0}


# --- hand-made cases: inside the margin, outside it, and an interval too wide for it ---

def test_inside_the_margin_is_reproduced():
    # mean 84.00, SD 0.1: the 90% interval of d = -0.14 is about ±0.17, inside ±1.0
    test = equivalence([83.9, 84.0, 84.1], 84.14, margin=1.0)
    assert test.verdict == REPRODUCED and test.p_equivalent < 0.05


def test_outside_the_margin_is_below_or_above():
    assert equivalence([80.9, 81.0, 81.1], 84.14).verdict == "below by 3.14"
    assert equivalence([85.9, 86.0, 86.1], 84.14).verdict == "above by 1.86"
    # significantly different but within the margin: equivalence wins
    assert equivalence([83.6, 83.7, 83.8], 84.14).verdict == REPRODUCED


def test_too_wide_is_inconclusive_not_reproduced():
    # mean 84.0 as above, but SD 2: the old rule (paper inside our 95% CI) said "reproduced"
    test = equivalence([82.0, 84.0, 86.0], 84.14)
    assert test.verdict == INCONCLUSIVE and test.p_equivalent > 0.05
    # the same seeds pass with a margin wide enough for their spread
    assert equivalence([82.0, 84.0, 86.0], 84.14, margin=6.0).verdict == REPRODUCED


def test_fewer_than_three_seeds_give_no_verdict_and_zero_spread_compares_directly():
    assert equivalence([84.0, 84.2], 84.14).verdict == "n=2: no interval"
    assert equivalence([], 84.14).verdict == "missing"
    assert equivalence([84.0, 84.0, 84.0], 84.14).verdict == REPRODUCED
    assert equivalence([82.0, 82.0, 82.0], 84.14).verdict == "below by 2.14"
    with pytest.raises(ValueError, match="margin"):
        equivalence([1.0, 2.0, 3.0], 2.0, margin=0)


# --- the tables and the report ---

@pytest.fixture(scope="module")
def verdictnet():
    register_model("verdictnet", label="VerdictNet", backbone="none")(
        lambda num_classes=6, pretrained=False: nn.Identity())
    yield "verdictnet"
    registry._REGISTRY.pop("verdictnet")


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, verdictnet):
    root = tmp_path_factory.mktemp("verdict")
    runs_dir, refs = root / "runs", root / "refs"
    # ms2mnet-full: mIoU 83.9, 84.0, 84.1 (equivalent to 84.14); no_dfe 2 points lower per seed.
    for seed, miou in enumerate((0.839, 0.840, 0.841)):
        write_run(runs_dir, "vaihingen", "ms2mnet-full", seed, miou, selection="test_best")
        write_run(runs_dir, "vaihingen", "ms2mnet-no_dfe", seed, miou - 0.02 + 0.001 * seed)
    # verdictnet: OA 81 (below 90), mF1 91 (above 88), mIoU 78, 80, 82 (too wide for ±1).
    for seed, step in enumerate((0.0, 0.01, 0.02)):
        write_run(runs_dir, "vaihingen", verdictnet, seed, 0.78 + 2 * step, mf1=0.9099 + step / 100,
                  oa=0.8099 + step / 100)
    write_run(runs_dir, "potsdam", "ms2mnet-full", 0, 0.86)     # one seed: no verdict
    write_references(refs, "vaihingen", {verdictnet: PUBLISHED, "ms2mnet": {"miou": 84.14}}, checked=False,
                     ablations=[{"row": "baseline + all", "variant": "full", "miou": 84.14},
                                {"row": "w/o DFE", "variant": "no_dfe", "miou": 82.0},
                                {"row": "w/o VFE", "variant": "no_vfe", "miou": 80.0}])
    write_references(refs, "potsdam", {"ms2mnet": {"miou": 86.21}})
    return runs_dir, refs


def test_verdict_table_rows(real_runs, verdictnet):
    runs_dir, refs = real_runs
    runs = collect_runs(runs_dir, "vaihingen", ["ms2mnet-full", "ms2mnet-no_dfe", verdictnet], [0, 1, 2],
                        profile="smoke")
    table = verdict_table(runs, load_references("vaihingen", refs))
    got = {(row[0], row[2]): row for row in table.rows}
    # Ablation variants are not in this table; the reference file gives MS2MNet mIoU only.
    assert set(got) == {("ms2mnet-full", "mIoU"), (verdictnet, "OA"), (verdictnet, "mF1"), (verdictnet, "mIoU")}
    assert got[("ms2mnet-full", "mIoU")][3:7] == ["84.14 (unchecked)", "84.00 ± 0.25", "3", "-0.14"]
    assert got[("ms2mnet-full", "mIoU")][8:11] == [REPRODUCED, "test_best", "smoke"]
    assert got[(verdictnet, "OA")][8] == "below by 9.00"
    assert got[(verdictnet, "mF1")][8] == "above by 3.00"
    assert got[(verdictnet, "mIoU")][8] == INCONCLUSIVE
    assert got[(verdictnet, "OA")][11] == "a test table (unchecked)"


def test_ablation_deltas_against_the_papers(real_runs):
    runs_dir, refs = real_runs
    runs = collect_runs(runs_dir, "vaihingen", ["ms2mnet-full", "ms2mnet-no_dfe", "ms2mnet-no_vfe"], [0, 1, 2],
                        profile="smoke")
    table = ablation_verdict_table(runs, load_references("vaihingen", refs))
    rows = {row[0]: row for row in table.rows}
    assert rows["no_dfe"][:4] == ["no_dfe", "w/o DFE", "mIoU", "-2.14 (unchecked)"]
    assert rows["no_dfe"][5] == "3" and rows["no_dfe"][8] == REPRODUCED   # ours -2.0 ± 0.1 against -2.14, ±1
    assert rows["no_vfe"][5] == "0" and rows["no_vfe"][8] == "missing"    # a paper row without runs
    assert ablation_verdict_table(runs, References("vaihingen", None)).rows == []


def test_report_for_a_real_dataset_has_the_verdict(real_runs, verdictnet, fixture_prepared, tmp_path):
    runs_dir, refs = real_runs
    runs = ["ms2mnet-full", "ms2mnet-no_dfe", verdictnet]
    summary = render_report("vaihingen", runs_dir, fixture_prepared, tmp_path, runs, [0, 1, 2], profile="smoke",
                            references=refs, margin=1.0, allow_dirty=True)
    text = (tmp_path / "README.md").read_text()
    assert "## 1b. Verdict against the papers (vaihingen)" in text
    assert "| ms2mnet-full | MS2MNet | mIoU | 84.14 (unchecked) | 84.00 ± 0.25 | 3 | -0.14 |" in text
    assert "## 2b. Ablation deltas against the paper (vaihingen)" in text
    assert (tmp_path / "verdict.csv").is_file() and (tmp_path / "verdict.tex").is_file()
    verdicts = {(r["run"], r["metric"]): r["verdict"] for r in summary["tables"]["verdict"]}
    assert verdicts[(verdictnet, "oa")] == "below by 9.00"
    assert json.loads((tmp_path / "summary.json").read_text())["tables"]["verdict"][0]["paper"] == 84.14


def test_one_seed_gives_no_verdict(real_runs, fixture_prepared, tmp_path):
    runs_dir, refs = real_runs
    summary = render_report("potsdam", runs_dir, fixture_prepared, tmp_path, ["ms2mnet-full"], [0], profile="smoke",
                            references=refs, allow_dirty=True)
    [row] = summary["tables"]["verdict"]
    assert row["paper"] == 86.21 and row["verdict"] == "n=1: no interval" and row["ci95"] is None
    assert "| 86.21 | 86.00 (n=1) | 1 | -0.21 | n/a | n=1: no interval |" in (tmp_path / "README.md").read_text()


def test_never_for_synthetic_data(fixture_runs, fixture_prepared, tmp_path):
    summary = render_report("synthetic", fixture_runs, fixture_prepared, tmp_path, RUNS, SEEDS, profile="smoke",
                            allow_dirty=True)
    assert "verdict" not in summary["tables"]
    assert not (tmp_path / "verdict.csv").exists()
    assert "Verdict" not in (tmp_path / "README.md").read_text()
    with pytest.raises(ValueError, match="synthetic"):
        verdict_table(collect_runs(fixture_runs, "synthetic", RUNS, SEEDS, profile="smoke"),
                      References("synthetic", None))


def test_the_suites_reference_files_load_and_name_a_source_for_every_number():
    for dataset in ("vaihingen", "potsdam"):
        refs = load_references(dataset)
        assert refs.of("ms2mnet")["miou"].checked            # the authors' README, read
        assert refs.of("fusenet")["miou"].source and not refs.of("fusenet")["miou"].checked


def test_a_reference_without_a_known_source_is_refused(tmp_path):
    (tmp_path / "vaihingen.yaml").write_text("sources: {}\nmodels: {x: {miou: {value: 1.0, source: nope}}}\n")
    with pytest.raises(ValueError, match=r"vaihingen.yaml: models.x.miou: source 'nope'"):
        load_references("vaihingen", tmp_path)

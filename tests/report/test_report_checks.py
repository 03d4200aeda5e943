"""Issue 22: the report is replaced as a whole (case 4) and never takes a metrics.json that contradicts its
folder, its value ranges or its run's other seeds as data (case 6)."""

import json

import pytest

import ms2mnet.report.render as render_module
from ms2mnet.report import render_report
from ms2mnet.report.collect import collect_runs
from ms2mnet.report.main_table import main_table

from .run_fixtures import write_run


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_report_killed_while_writing_leaves_the_old_one_whole(fixture_runs, fixture_prepared, tmp_path,
                                                                monkeypatch):
    def figures(results, tables, dataset, prepared_dir, scaling, out_dir, notes, *mosaic):   # a figure, without matplotlib
        (out_dir / "figures").mkdir()
        (out_dir / "figures" / "runs.txt").write_text(" ".join(r.name for r in results))
        return {"Runs": "figures/runs.txt"}

    monkeypatch.setattr(render_module, "_figures", figures)
    out = tmp_path / "reports"
    render_report("synthetic", fixture_runs, fixture_prepared, out, ["ms2mnet-full"], [0, 1, 2], profile="smoke")
    (out / "notes.txt").write_text("mine")       # not the report's: kept when the report is replaced
    before = _snapshot(out)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt     # after the tables and figures of the new report were written

    readme = render_module.readme
    monkeypatch.setattr(render_module, "readme", killed)
    with pytest.raises(KeyboardInterrupt):
        render_report("synthetic", fixture_runs, fixture_prepared, out, ["ms2mnet-full", "ms2mnet-no_dfe"],
                      [0, 1, 2], profile="smoke")
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]      # no staging folder left

    monkeypatch.setattr(render_module, "readme", readme)
    render_report("synthetic", fixture_runs, fixture_prepared, out, ["ms2mnet-full", "ms2mnet-no_dfe"],
                  [0, 1, 2], profile="smoke")
    assert (out / "notes.txt").read_text() == "mine" and "ms2mnet-no_dfe" in (out / "main.csv").read_text()
    assert (out / "figures" / "runs.txt").read_text() == "ms2mnet-full ms2mnet-no_dfe"


def _edit(folder, **changes):
    path = folder / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_metrics_that_contradict_their_folder_are_error_rows(tmp_path):
    runs = tmp_path / "runs"
    for seed, miou in ((0, 0.80), (1, 0.82), (2, 0.90)):
        write_run(runs, "synthetic", "ms2mnet-full", seed, miou)
        write_run(runs, "synthetic", "ms2mnet-no_dfe", seed, miou)
        write_run(runs, "synthetic", "ms2mnet-no_vfe", seed, miou)
    full = runs / "synthetic" / "smoke" / "ms2mnet-full"
    _edit(full / "seed2", miou=84.10)                                     # percent, not a fraction
    _edit(runs / "synthetic" / "smoke" / "ms2mnet-no_dfe" / "seed2", model="fusenet", variant=None, run="fusenet")
    _edit(runs / "synthetic" / "smoke" / "ms2mnet-no_vfe" / "seed2", eval_stride=16)    # re-evaluated otherwise
    _edit(full / "seed1", seed=0)                                          # copied from another seed's folder

    results = collect_runs(runs, "synthetic", ["ms2mnet-full", "ms2mnet-no_dfe", "ms2mnet-no_vfe"], [0, 1, 2],
                           profile="smoke")
    problems = {(r.name, s.seed): s.problem for r in results for s in r.problems}
    assert problems == {
        ("ms2mnet-full", 1): "error: metrics.json is for seed 0, but its folder is for 1",
        ("ms2mnet-full", 2): "error: metrics.json: miou is 84.1, expected a fraction in [0, 1]",
        ("ms2mnet-no_dfe", 2): "error: metrics.json is for run 'fusenet', but its folder is for 'ms2mnet-no_dfe'",
        ("ms2mnet-no_vfe", 2): "error: evaluated with eval_window 64, eval_stride 16, tta False; the run's other "
                               "seeds used eval_window 64, eval_stride 32, tta False: re-evaluate it",
    }
    rows = {row["run"]: row for row in main_table(results, "synthetic", [0, 1, 2]).data}
    assert rows["ms2mnet-full"]["miou_mean"] == pytest.approx(80.0) and rows["ms2mnet-full"]["seeds_ok"] == 1
    assert rows["ms2mnet-no_dfe"]["model"] == "ms2mnet" and rows["ms2mnet-no_vfe"]["miou_mean"] == pytest.approx(81.0)


@pytest.mark.parametrize("new_in_place", [False, True])
def test_a_swap_killed_between_its_renames_is_completed_by_the_next_one(tmp_path, new_in_place):
    """Killed after the old report was renamed aside (and maybe after the new one was renamed in): the next
    report puts the old one back or finishes the swap, and the user's files survive either way."""
    from ms2mnet.io import atomic_folder

    aside = tmp_path / ".reports.old-1"
    aside.mkdir()
    (aside / "README.md").write_text("old")
    (aside / "notes.txt").write_text("mine")
    if new_in_place:
        (tmp_path / "reports").mkdir()
        (tmp_path / "reports" / "README.md").write_text("newer")
    with atomic_folder(tmp_path / "reports", keep=lambda p: p.suffix == ".txt") as staging:
        (staging / "README.md").write_text("newest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]
    assert {p.name: p.read_text() for p in (tmp_path / "reports").iterdir()} == {"README.md": "newest",
                                                                                 "notes.txt": "mine"}

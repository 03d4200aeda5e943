"""The report's `init` column, and no verdict against a paper for a run that did not start from its weights."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report.run_fixtures import write_run  # noqa: E402

from ms2mnet.report.collect import collect_runs  # noqa: E402
from ms2mnet.report.main_table import main_table  # noqa: E402
from ms2mnet.report.published import load_references  # noqa: E402
from ms2mnet.report.verdict import verdict_table  # noqa: E402

PAPER = {"init": [{"file": "resnet50-0676ba61.pth", "sha256": "0676ba61" + "0" * 56}],
         "init_label": "ImageNet-1k (0676ba61)", "init_as_paper": True}
SCRATCH = {"init": "scratch", "init_label": "scratch", "init_as_paper": False}


def runs_with(tmp_path: Path, run: str, init: dict) -> list:
    for seed, miou in enumerate((0.83, 0.84, 0.85)):
        folder = write_run(tmp_path, "vaihingen", run, seed, miou, profile="paper")
        metrics = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(json.dumps({**metrics, **init}))
    return collect_runs(tmp_path, "vaihingen", [run], [0, 1, 2], profile="paper")


def test_the_main_table_shows_the_init_and_the_verdict_needs_the_papers(tmp_path):
    paper = runs_with(tmp_path / "a", "ms2mnet-full", PAPER)
    assert main_table(paper, "vaihingen", [0, 1, 2]).cell("ms2mnet-full", "init") == "ImageNet-1k (0676ba61)"
    refs = load_references("vaihingen")     # conf/references: MS2MNet's published mIoU
    assert not verdict_table(paper, refs).data[0]["verdict"].startswith("none")   # a verdict is given
    scratch = runs_with(tmp_path / "b", "ms2mnet-full", SCRATCH)
    table = main_table(scratch, "vaihingen", [0, 1, 2])
    assert table.cell("ms2mnet-full", "init") == "scratch" and table.data[0]["init_as_paper"] is False
    assert verdict_table(scratch, refs).data[0]["verdict"] == "none: init scratch"

"""Reports are kept per dataset and profile (reports/<dataset>/<profile>/); reports/README.md links them all,
so a rerun on one dataset or profile never hides another's report."""

from __future__ import annotations

import json
from pathlib import Path

from ms2mnet.io import atomic_path

ABOUT = {   # what a profile's numbers can show, said at the top of its report and in the index
    "demo": "learning demo: each run trains from scratch on the CPU long enough to learn the synthetic scenes "
            "(3 seeds), so its numbers show learning and the DSM effect",
    "smoke": "pipeline check only: each run trains a few steps, enough to show that the model runs end to "
             "end; its numbers do not show learning",
    "tiny": "test profile: seconds per run, numbers meaningless",
    "paper": "the protocol's schedule (docs/protocol.md)",
    "authors": "the schedule of the authors' released training script",
}


def about(profile: str) -> str:
    return ABOUT.get(profile, f"profile `{profile}` (conf/profile/{profile}.yaml)")


def write_index(root: Path) -> Path:
    """root/README.md: a table of every root/<dataset>/<profile>/summary.json."""
    root = Path(root)
    lines = ["# Reports", "", "One report per dataset and profile, rendered by `ms2mnet report` (the pipeline's last "
             "stage); do not edit by hand.", "", "| dataset | profile | what it shows | runs x seeds | missing | report |",
             "|---|---|---|---|---|---|"]
    for summary_path in sorted(root.glob("*/*/summary.json")):
        summary = json.loads(summary_path.read_text())
        folder = summary_path.parent.relative_to(root).as_posix()
        lines.append(f"| {summary['dataset']} | {summary['profile']} | {about(summary['profile'])} | "
                     f"{len(summary['runs'])} x {len(summary['seeds'])} | {len(summary['missing'])} | "
                     f"[{folder}/README.md]({folder}/README.md) |")
    path = root / "README.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path

"""The commit of the checkout and whether its code differs from it. What the pipeline itself writes while it
runs (dvc.lock, reports, runs, data; DVC also adds its outputs to .gitignore files) does not count: a `dvc repro`
on a clean clone stays clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

PIPELINE_OUTPUTS = ("dvc.lock", "reports", "runs", "data", ".dvc", "**/.gitignore")
REPO = Path(__file__).resolve().parents[1]


def source_tree(root: Path = REPO) -> dict:
    """The commit of the checkout at `root`, and whether it has changes outside the pipeline's
    own outputs (`PIPELINE_OUTPUTS`): {"commit", "dirty", "changed": first changed paths}. Outside a git
    checkout, commit and dirty are None."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout
    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain", "--", ".", *(f":(exclude,glob){p}" for p in PIPELINE_OUTPUTS))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None, "changed": []}
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": commit, "dirty": bool(changed), "changed": changed[:5]}

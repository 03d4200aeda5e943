"""A committed copy of the repository whose pipeline trains the two-layer `tinyseg` model (tests/extra_models),
for the slow tests that run `dvc` in it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def copy_repo(dest: Path, env: dict) -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (REPO / name).is_file() and not name.startswith(("reports/", "tests/")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    params = {"dataset": "synthetic", "profile": "tiny", "runs": ["tinyseg"], "seeds": [0],
              "smoke": {"profile": "smoke", "runs": ["tinyseg"], "seeds": [1]}}
    (dest / "params.yaml").write_text(yaml.safe_dump(params))
    (dest / "conf" / "model" / "tinyseg.yaml").write_text("name: tinyseg\nmodule: extra_models.tinyseg\n")
    for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "copy"]):   # dvclive and the report need a commit
        subprocess.run(["git", *git], cwd=dest, env=env, check=True)

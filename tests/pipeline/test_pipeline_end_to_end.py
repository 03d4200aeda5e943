"""The whole pipeline, archives to reports, on a tiny configuration in a temporary copy of the repo."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dvc_repro_from_archives_to_reports(tmp_path):
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (REPO / name).is_file() and not name.startswith("reports/"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tmp_path / name)
    params = {"dataset": "synthetic", "profile": "tiny", "runs": ["ms2mnet-full", "ms2mnet-rgb_only"], "seeds": [0, 1], "smoke": {"profile": "smoke", "runs": ["unetformer"], "seeds": [0]}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}
    # A clone-like repository: dvclive needs at least one commit.
    for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "copy"]):
        subprocess.run(["git", *git], cwd=tmp_path, env=env, check=True)
    result = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    for run in params["runs"]:
        assert (tmp_path / f"runs/synthetic/tiny/complexity/{run}.json").is_file()
        for seed in params["seeds"]:
            assert (tmp_path / f"runs/synthetic/tiny/{run}/seed{seed}/metrics.json").is_file()
    assert (tmp_path / "runs/synthetic/smoke/unetformer/seed0/metrics.json").is_file()
    report = (tmp_path / "reports/synthetic/tiny/README.md").read_text()
    assert "synthetic" in report.lower() and "ms2mnet-rgb_only" in report and "DSM effect" in report
    assert len(list((tmp_path / "reports/synthetic/tiny/figures").glob("*.png"))) >= 5
    assert "unetformer" in (tmp_path / "reports/synthetic/smoke/README.md").read_text()
    index = (tmp_path / "reports/README.md").read_text()
    assert "(synthetic/tiny/README.md)" in index and "(synthetic/smoke/README.md)" in index
    status = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert "up to date" in status.stdout.lower(), status.stdout

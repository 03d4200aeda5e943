"""An interrupted `dvc repro` resumes its run from the checkpoint, and a finished stage is still skipped."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_repo import copy_repo

REPO = Path(__file__).resolve().parents[2]
HOOK = Path(__file__).resolve().parent / "crash_hook"
TESTS = REPO / "tests"     # holds extra_models/tinyseg.py, the two-layer model that keeps this test fast


@pytest.mark.slow
def test_interrupted_dvc_repro_resumes_and_a_finished_stage_is_skipped(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(map(str, (HOOK, tmp_path, TESTS))), "GIT_AUTHOR_NAME": "test",
           "GIT_AUTHOR_EMAIL": "test@localhost", "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}
    copy_repo(tmp_path, env)
    stage = "run@tinyseg-0"
    run_dir = tmp_path / "runs/synthetic/tiny/tinyseg/seed0"

    def repro(**extra_env) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dvc", "repro", stage], cwd=tmp_path, env={**env, **extra_env},
                              capture_output=True, text=True, timeout=900)

    first = repro(MS2MNET_TEST_CRASH_AFTER_SAVE="1")   # dies right after the checkpoint of iteration 2
    assert first.returncode != 0
    assert (run_dir / "checkpoint.pt").is_file() and not (run_dir / "metrics.json").exists()

    second = repro()
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-3000:]
    assert "at iteration 2" in output, output[-3000:]   # resumed, not restarted from iteration 0
    with open(run_dir / "dvclive/plots/metrics/train/loss.tsv") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle, delimiter="\t")]
    assert steps == [1, 2, 3, 4, 5, 6]     # the first attempt's curve kept, then continued
    assert (run_dir / "metrics.json").is_file()

    stamp = (run_dir / "checkpoint.pt").stat().st_mtime_ns
    third = repro()
    assert third.returncode == 0 and "didn't change" in third.stdout, third.stdout[-3000:]
    assert (run_dir / "checkpoint.pt").stat().st_mtime_ns == stamp

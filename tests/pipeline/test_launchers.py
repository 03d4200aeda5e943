"""Engines beyond one process: slurm/matrix.sbatch's task arithmetic (without SLURM), a two-job Hydra sweep
through the submitit launcher (the SLURM code path, as local processes), and two queued DVC experiments
run by two queue workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_repo import copy_repo

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
SBATCH = REPO / "slurm" / "matrix.sbatch"


def _sbatch_task(tmp_path: Path, task: int, runs: str, seeds: str) -> subprocess.CompletedProcess:
    """matrix.sbatch as array task `task`, with a stand-in `ms2mnet` that prints its arguments."""
    stub = tmp_path / "bin" / "ms2mnet"
    if not stub.exists():
        stub.parent.mkdir()
        stub.write_text('#!/bin/bash\necho "$@"\n')
        stub.chmod(0o755)
    env = {"PATH": f"{stub.parent}{os.pathsep}/usr/bin:/bin", "RUNS": runs, "SEEDS": seeds, "DATASET": "potsdam",
           "PROFILE": "paper", "SLURM_ARRAY_TASK_ID": str(task)}
    return subprocess.run(["bash", str(SBATCH)], env=env, capture_output=True, text=True, timeout=30)


def test_sbatch_array_tasks_cover_every_run_and_seed_once(tmp_path):
    runs, seeds = ["ms2mnet-full", "fusenet", "rs3mamba"], ["0", "1"]
    size = len(runs) * len(seeds)
    header = SBATCH.read_text()
    assert "--array=0-$(( $(wc -w <<< \"$RUNS\") * $(wc -w <<< \"$SEEDS\") - 1 ))" in header   # the documented range
    commands = []
    for task in range(size):
        result = _sbatch_task(tmp_path, task, " ".join(runs), " ".join(seeds))
        assert result.returncode == 0, result.stderr
        commands.append(result.stdout.split())
    expected = [["run", "--run", run, "dataset=potsdam", "profile=paper", f"seed={seed}"]
                for run in runs for seed in seeds]
    assert commands == expected   # task k: run k // #seeds, seed k % #seeds; each pair once
    past = _sbatch_task(tmp_path, size, " ".join(runs), " ".join(seeds))
    assert past.returncode == 2 and f"array task {size} is past the 3 runs x 2 seeds" in past.stderr


def _env(code: Path) -> dict:
    """The environment of the launched processes: the suite's code from `code` (not the editable install)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join(map(str, (code, TESTS))), "OMP_NUM_THREADS": "1",
            "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost", "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@localhost"}


@pytest.mark.slow
def test_two_job_sweep_through_the_submitit_launcher(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e '.[slurm]'")
    from ms2mnet.data.fetch import fetch
    from ms2mnet.data.prepare import prepare
    fetch("synthetic", raw_root=tmp_path / "raw")
    prepare("synthetic", raw_root=tmp_path / "raw", out_root=tmp_path / "prepared")
    prepared = tmp_path / "prepared"
    command = [sys.executable, str(REPO / "ablations" / "run.py"), "-m", "hydra/launcher=submitit_local",
               f"paths.prepared={prepared}", f"paths.runs={tmp_path / 'runs'}", "device=cpu", "profile=tiny",
               "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.launcher.timeout_min=20"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=_env(REPO), timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    for seed in (0, 1):
        assert (tmp_path / "runs" / "synthetic" / "tiny" / "ms2mnet-full" / f"seed{seed}" / "metrics.json").is_file()
    assert len(list((tmp_path / "sweep").rglob("*_submitted.pkl"))) == 2   # two submitit jobs


@pytest.mark.slow
def test_two_queued_dvc_experiments_run_with_two_workers(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = _env(repo)
    copy_repo(repo, env)

    def dvc(*args, timeout=600) -> str:
        # Output to a file: the queue's workers outlive `dvc queue start` and would hold a pipe open.
        log = tmp_path / "dvc.log"
        with log.open("w") as out:
            result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, timeout=timeout)
        text = log.read_text()
        assert result.returncode == 0, f"dvc {' '.join(args)}: {text[-3000:]}"
        return text

    for seed in (0, 1):   # up to the run stage (fetch, prepare, train, evaluate); the report is not the point
        dvc("exp", "run", "--queue", "-n", f"seed{seed}", "-S", f"seeds=[{seed}]", f"run@tinyseg-{seed}")
    dvc("queue", "start", "-j", "2")
    deadline = time.monotonic() + 1500
    try:
        while time.monotonic() < deadline:
            status = dvc("queue", "status")
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(5)
    finally:
        dvc("queue", "stop", "--kill")
    assert status.count("Success") == 2, status
    # Each ran in a temporary copy: its metrics come back through DVC's cache.
    shown = json.loads(subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=repo, env=env,
                                      capture_output=True, text=True, check=True, timeout=300).stdout)
    metrics = {rev["name"]: rev["data"]["metrics"] for top in shown for exp in top.get("experiments") or []
               for rev in exp["revs"]}
    for seed in (0, 1):
        record = metrics[f"seed{seed}"][f"runs/synthetic/tiny/tinyseg/seed{seed}/metrics.json"]["data"]
        assert record["seed"] == seed and 0 <= record["miou"] <= 1

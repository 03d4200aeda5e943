"""A model written outside the package joins as a first-class run: one module, one small yaml."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]   # holds extra_models/tinyseg.py


def test_tinyseg_trains_evaluates_and_is_measured(prepared, tmp_path):
    # conf/model/tinyseg.yaml holds only the name and the module; Hydra finds it on an extra search path.
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "tinyseg.yaml").write_text("name: tinyseg\nmodule: extra_models.tinyseg\n")
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    overrides = ["model=tinyseg", "dataset=synthetic", "profile=tiny", "seed=0", f"paths.prepared={prepared}",
                 f"paths.runs={tmp_path / 'runs'}", f"hydra.searchpath=[file://{tmp_path / 'conf'}]"]
    train = subprocess.run([sys.executable, str(REPO / "baselines" / "run.py"), *overrides], env=env,
                           capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert train.returncode == 0, train.stderr[-3000:]
    run_dir = tmp_path / "runs" / "synthetic" / "tiny" / "tinyseg"
    metrics = json.loads((run_dir / "seed0" / "metrics.json").read_text())
    assert metrics["model"] == "tinyseg" and metrics["variant"] is None and 0 <= metrics["miou"] <= 1
    assert (run_dir / "seed0" / "checkpoint.pt").is_file()

    # The complexity stage measures peak memory in a spawned child, which must find the model too.
    cost = subprocess.run([sys.executable, "-m", "ms2mnet.cli", "complexity", "--run", "tinyseg",
                           *overrides[2:], "profile.complexity.memory=true"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert cost.returncode == 0, cost.stderr[-3000:]
    record = json.loads((run_dir.parent / "complexity" / "tinyseg.json").read_text())
    assert record["params"]["total"] == 4 * 8 * 9 + 8 + 8 * 6 + 6
    assert record["peak_memory"]["measured"], record["peak_memory"]

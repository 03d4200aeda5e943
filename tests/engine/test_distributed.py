"""DistributedDataParallel: two CPU processes (gloo) under torchrun train and evaluate one run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_gloo_run(prepared, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "ablations" / "run.py"), f"paths.prepared={prepared}", f"paths.runs={tmp_path}",
               "device=cpu", "profile=tiny", "profile.train.batch_size=4"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "synthetic" / "tiny" / "ms2mnet-full" / "seed0"
    assert json.loads((run_dir / "metrics.json").read_text())["pixels"] > 0

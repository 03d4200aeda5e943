"""benchmarks/gpu_checks.py runs as is on the CPU at a tiny size, so it is in working order when a GPU comes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"   # holds extra_models/tinyseg.py, a two-layer model (MS2MNet is tested by test_bench_train)
TINY = ["--device", "cpu", "--import", "extra_models.tinyseg", "--models", "tinyseg", "--compare-model", "tinyseg",
        "--size", "32", "--batch", "2", "--steps", "1", "--warmup", "0",
        "--latency-runs", "1", "--tiles", "1", "--tile-size", "64", "48", "--window", "32", "--stride", "16",
        "--eval-batch", "4", "--scan-sizes", "1,8,4,24", "--scan-repeats", "1", "--seeds", "2"]


def test_gpu_checks_script_writes_its_table(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OUT": str(tmp_path / "out")}
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_checks.py"), *TINY], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    table = (tmp_path / "out" / "gpu_checks.md").read_text()   # $OUT is the default folder
    assert table.startswith("# GPU checks on ") and "| tinyseg | – | float32 |" in table
    record = json.loads((tmp_path / "out" / "gpu_checks.json").read_text())
    [row] = record["models"]
    assert "error" not in row and row["train_img_s"] > 0 and row["eval_windows"] > 0 and row["latency_ms"] > 0
    comparison = record["evaluator_comparison"]
    # Same model, windows and batches in float32: the same classes (float64 vs float32 sums may split a tie).
    assert comparison["agreement"] > 0.999 and comparison["evaluator_s"] > 0 and comparison["host_copy_s"] > 0
    [scan] = record["scan"]   # no kernel on the CPU: the PyTorch path against the per-token loop
    assert scan["compared_with"] == "per_token_scan" and scan["out_rel_diff"] < 1e-4 and scan["worst_grad_rel_diff"] < 1e-3
    assert "## Selective scan: kernel against the PyTorch path" in table and "| 1,8,4,24 | per_token_scan |" in table
    estimate = record["matrix_estimate"]
    [run] = [r for r in estimate["runs"] if r["run"] == "tinyseg"]
    steps_s = estimate["steps"] * row["train_step_ms"] / 1e3
    assert steps_s / 3600 < run["vaihingen"] < run["potsdam"]   # training plus more windows on Potsdam
    assert estimate["total_hours"] == sum(r["vaihingen"] + r["potsdam"] for r in estimate["runs"]) * 2
    assert "device-hours" in table


def test_host_copy_loop_matches_the_evaluator():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from host_copy_eval import host_copy_predict
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    from ms2mnet.engine.inference import sliding_window_logits

    class PixelNet(torch.nn.Module):   # a 1x1 convolution: each pixel's class depends on that pixel alone
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 6, 1)

        def forward(self, image, dsm):
            return self.conv(torch.cat([image, dsm], 1))

    torch.manual_seed(0)
    model = PixelNet().eval()
    image, dsm = torch.rand(3, 40, 56), torch.rand(1, 40, 56)
    ours = sliding_window_logits(model, image, dsm, 6, window=16, stride=8, batch_size=3).argmax(0).numpy()
    theirs = host_copy_predict(model, image.permute(1, 2, 0).numpy(), dsm[0].numpy(), 6, 16, 8, 3,
                               torch.device("cpu"))
    direct = model(image[None], dsm[None])[0].argmax(0).numpy()   # overlaps add the same logits up
    assert np.array_equal(theirs, ours) and np.array_equal(theirs, direct)

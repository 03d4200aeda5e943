"""Forward latency: median and p90 of timed forwards after warm-up, with the conditions they were taken in."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


def measure_latency(model: nn.Module, inputs: tuple[torch.Tensor, ...], warmup: int = 3, runs: int = 10) -> dict:
    """Wall-clock latency of `model(*inputs)` in eval mode under no_grad (CPU; CUDA synchronises)."""
    model.eval()
    device = inputs[0].device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    with torch.no_grad():
        for i in range(warmup + runs):
            sync()
            start = time.perf_counter()
            model(*inputs)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    times.sort()
    return {
        "median_ms": 1e3 * statistics.median(times),
        "p90_ms": 1e3 * times[min(len(times) - 1, round(0.9 * (len(times) - 1)))],
        "runs": runs,
        "warmup": warmup,
        "batch": inputs[0].shape[0],
        "resolution": list(inputs[0].shape[-2:]),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "precision": str(inputs[0].dtype).removeprefix("torch."),
    }

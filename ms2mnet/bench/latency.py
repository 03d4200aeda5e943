"""Forward latency: median and p90 of timed forwards after warm-up, with the conditions they were taken in.

CUDA: CUDA events around each forward, AMP (float16 autocast) optional. CPU: wall clock, thread count
recorded. Throughput (images/s) is the batch divided by the median time.
"""

from __future__ import annotations

import contextlib
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def device_name(device: str | torch.device) -> str:
    """The GPU's name, or the CPU's model name as the OS reports it."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _wall_clock_ms(forward: Callable[[], object]) -> float:
    start = time.perf_counter()
    forward()
    return 1e3 * (time.perf_counter() - start)


def _cuda_events_ms(forward: Callable[[], object]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    forward()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values, q in [0, 1]."""
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def measure_latency(model: nn.Module, inputs: tuple[torch.Tensor, ...], warmup: int = 3, runs: int = 10,
                    amp: bool = False) -> dict:
    """Latency of `model(*inputs)` in eval mode under no_grad, on the inputs' device: the numbers
    (median_ms, p90_ms, throughput_img_s) and the conditions (batch, resolution, precision, device, threads...)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    device = inputs[0].device
    if amp and device.type != "cuda":
        raise ValueError(f"AMP latency is measured on CUDA only; inputs are on {device}: "
                         "drop --amp or use --device cuda")
    model.eval()
    timer = _cuda_events_ms if device.type == "cuda" else _wall_clock_ms
    autocast = torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext()
    times = []
    with torch.no_grad(), autocast:
        for i in range(warmup + runs):
            elapsed = timer(lambda: model(*inputs))
            if i >= warmup:
                times.append(elapsed)
    times.sort()
    batch = inputs[0].shape[0]
    median = statistics.median(times)
    return {
        "median_ms": median,
        "p90_ms": percentile(times, 0.9),
        "min_ms": times[0],
        "throughput_img_s": 1e3 * batch / median,
        "runs": runs,
        "warmup": warmup,
        "batch": batch,
        "resolution": list(inputs[0].shape[-2:]),
        "precision": "amp-float16" if amp else str(inputs[0].dtype).removeprefix("torch."),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "timer": "cuda-events" if device.type == "cuda" else "wall-clock",
        "sliding_window": False,  # one forward on one crop; evaluation's sliding window is not included
    }

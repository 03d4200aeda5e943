"""Latency numbers and the conditions stored with them."""

import pytest
import torch
from torch import nn

from ms2mnet.bench.latency import measure_latency, percentile


def test_latency_records_numbers_and_conditions():
    model = nn.Conv2d(3, 8, 3, padding=1)
    result = measure_latency(model, (torch.rand(4, 3, 16, 16),), warmup=1, runs=7)
    assert 0 < result["min_ms"] <= result["median_ms"] <= result["p90_ms"]
    assert result["throughput_img_s"] == pytest.approx(4 * 1e3 / result["median_ms"])
    assert (result["batch"], result["resolution"], result["runs"], result["warmup"]) == (4, [16, 16], 7, 1)
    assert result["device"] == "cpu" and result["timer"] == "wall-clock" and result["precision"] == "float32"
    assert result["threads"] == torch.get_num_threads() and result["sliding_window"] is False
    assert not model.training


def test_latency_refuses_amp_on_cpu():
    with pytest.raises(ValueError, match="CUDA"):
        measure_latency(nn.Identity(), (torch.rand(1, 3, 4, 4),), amp=True)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.9) == 9.0 and percentile(values, 0.0) == 1.0 and percentile(values, 1.0) == 10.0

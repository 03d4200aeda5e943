"""Scaling sweeps: GMACs (fvcore) and latency of the VFE mixers and of whole models as the input grows.

Mixers are measured alone at each VFE level, at the feature size an input of `size` gives that level
(C, S, stride: 64, 16, 2 / 256, 24, 4 / 512, 28, 8 / 1024, 32, 16). One row per measurement.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Iterator

import torch

from ms2mnet.models import build_model, list_models
from ms2mnet.models.ms2mnet import MS2MNet
from ms2mnet.models.backbone import TRUNK_CHANNELS
from ms2mnet.models.mixers import MIXERS

from .flops import count_flops
from .inputs import example_inputs
from .latency import measure_latency

log = logging.getLogger(__name__)

LEVEL_STRIDES = (2, 4, 8, 16)
STATE_SIZES = inspect.signature(MS2MNet).parameters["state_sizes"].default
VFE_LEVELS = tuple(zip(TRUNK_CHANNELS, STATE_SIZES, LEVEL_STRIDES))  # (channels, state size, stride) per level


def _measure(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], latency: bool, runs: int, warmup: int,
             max_latency_gmacs: float | None) -> dict:
    """GMACs, the ops left uncounted, and (when asked and under the limit) the median and p90 latency.
    Attention is counted without being computed: at 1024 its 262144 tokens would need ~0.5 TB."""
    flops = count_flops(module, inputs, compute_attention=False)
    row = {"gmacs": flops.gmacs, "unsupported_ops": ", ".join(sorted(flops.unsupported)),
           "unknown_ops": ", ".join(sorted(flops.unknown)), "median_ms": None, "p90_ms": None, "latency_note": ""}
    if not latency:
        row["latency_note"] = "not measured (FLOPs only)"
    elif max_latency_gmacs is not None and flops.gmacs > max_latency_gmacs:
        row["latency_note"] = f"skipped: {flops.gmacs:.0f} GMACs > limit {max_latency_gmacs:g}"
    else:
        timing = measure_latency(module, inputs, warmup=warmup, runs=runs)
        row.update(median_ms=timing["median_ms"], p90_ms=timing["p90_ms"],
                   latency_note=f"{timing['device']} {timing['threads']} threads, {runs} runs")
    return row


def mixer_sweep(sizes: Iterable[int], mixers: Iterable[str] | None = None, latency: bool = True, runs: int = 5,
                warmup: int = 1, max_latency_gmacs: float | None = None, device: str = "cpu") -> Iterator[dict]:
    """One row per (mixer, input size, VFE level): the mixer alone on (1, C, size/stride, size/stride)."""
    for name in mixers or MIXERS:
        for size in sizes:
            for level, (channels, state, stride) in enumerate(VFE_LEVELS, start=1):
                torch.manual_seed(0)
                mixer = MIXERS[name](channels, state).eval().to(device)
                side = size // stride
                x = torch.rand(1, channels, side, side, device=device)
                log.info("mixer %s, input %d, level %d (%dx%d, C=%d)", name, size, level, side, side, channels)
                yield {"what": "mixer", "name": name, "size": size, "level": level, "channels": channels,
                       "state_size": state, "side": side, "tokens": side * side,
                       **_measure(mixer, (x,), latency, runs, warmup, max_latency_gmacs)}


def model_sweep(sizes: Iterable[int], model: str = "ms2mnet", variants: Iterable[str] | None = None,
                latency: bool = True, runs: int = 5, warmup: int = 1, max_latency_gmacs: float | None = None,
                device: str = "cpu", num_classes: int = 6) -> Iterator[dict]:
    """One row per (variant, input size): the whole model in eval mode on 1x3xSxS + 1x1xSxS."""
    for variant in variants or list_models()[model]:
        torch.manual_seed(0)
        net = build_model(model, variant=variant, num_classes=num_classes, pretrained=False).eval().to(device)
        for size in sizes:
            log.info("model %s/%s, input %d", model, variant, size)
            yield {"what": "model", "name": f"{model}/{variant}", "size": size, "tokens": size * size,
                   **_measure(net, example_inputs(size, 1, device), latency, runs, warmup, max_latency_gmacs)}

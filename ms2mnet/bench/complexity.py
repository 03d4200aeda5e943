"""`measure_complexity`: everything the suite records about a model's cost, for `complexity.json`.

GMACs (fvcore) with the uncounted ops, parameters by group, latency and throughput with their
conditions, and peak memory (or why it was not measured), all for the same model and input size.
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path

import fvcore
import torch

from ms2mnet.models import build_model, resolve_variant

from .flops import UNIT, count_flops, count_flops_with_aux
from .groups import module_groups
from .inputs import example_inputs
from .latency import device_name, measure_latency
from .memory import measure_peak_memory
from ms2mnet.io import write_json
from .params import count_parameters

log = logging.getLogger(__name__)


def measure_complexity(model_name: str, variant: str | None = None, num_classes: int = 6, size: int = 256, *,
                       device: str = "cpu", latency_runs: int = 20, latency_warmup: int = 5,
                       throughput_batch: int = 1, amp: bool = False, memory: bool = True, aux: bool = True,
                       options: dict | None = None, out_path: Path | None = None) -> dict:
    """Measure a freshly built `model_name`/`variant` (pretrained=False) at 1x3xSxS + 1x1xSxS in eval mode;
    `gmacs_with_aux` also counts the heads that run only in training (`count_flops_with_aux`; `aux=False`
    skips that second count and records None).

    GMACs are counted on the CPU; latency (batch 1, `latency_runs` after `latency_warmup`) and throughput
    (batch `throughput_batch`) on `device`, AMP on CUDA if asked; `memory=False` skips the peak-memory
    child; `options` are constructor arguments as in the model's config. Returns the record and, given
    `out_path` (runs/<dataset>/<run>/complexity.json), writes it atomically.
    """
    variant = resolve_variant(model_name, variant)
    options = options or {}
    torch.manual_seed(0)
    model = build_model(model_name, variant=variant, num_classes=num_classes, pretrained=False, **options).eval()
    flops = count_flops(model, example_inputs(size))
    flops_with_aux = count_flops_with_aux(model, example_inputs(size)) if aux else None
    groups = module_groups(model)
    model.to(device)
    latency = measure_latency(model, example_inputs(size, 1, device), latency_warmup, latency_runs, amp)
    throughput = latency
    if throughput_batch != 1:
        throughput = measure_latency(model, example_inputs(size, throughput_batch, device),
                                     latency_warmup, latency_runs, amp)
    record = {
        "model": model_name,
        "variant": variant,
        "options": options,
        "num_classes": num_classes,
        "input": {"image": [1, 3, size, size], "dsm": [1, 1, size, size], "mode": "eval"},
        "unit": UNIT,
        "gmacs": flops.gmacs,
        "gmacs_by_group": {group: macs / 1e9 for group, macs in flops.by_group(groups).items()},
        "gmacs_with_aux": flops_with_aux.gmacs if aux else None,  # train-mode graph, BN in eval mode
        "unsupported_ops": flops.unsupported,
        "unknown_ops": flops.unknown,
        "params": count_parameters(model),
        "latency": latency,
        "throughput": {"batch": throughput_batch, "images_per_s": throughput["throughput_img_s"],
                       "median_ms": throughput["median_ms"]},
        "peak_memory": (measure_peak_memory(model_name, variant, num_classes, size, 1, device, options=options) if memory
                        else {"measured": False, "reason": "skipped (memory=False)"}),
        "device": device,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "fvcore": getattr(fvcore, "__version__", "unknown"),
        "python": platform.python_version(),
    }
    if out_path is not None:
        write_json(out_path, record)
        log.info("complexity of %s/%s written to %s", model_name, variant, out_path)
    return record

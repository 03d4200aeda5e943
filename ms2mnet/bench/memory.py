"""Peak memory of one forward (eval, no_grad) and of one training step (forward, backward, SGD step).

CUDA: torch.cuda.max_memory_allocated around each. CPU: a fresh child process builds the model and
reads its own peak resident memory (VmHWM, reset between phases), so neither this process nor other
tests pollute it. ru_maxrss is not used: a spawned child inherits its parent's high-water mark.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
from pathlib import Path

import torch

from ms2mnet.models import build_model, get_model, import_model_module

from .inputs import example_inputs

log = logging.getLogger(__name__)

MIB = 2**20
STATUS = Path("/proc/self/status")


def training_step(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
    """Forward in train mode, a loss touching every output, backward, one SGD step."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    outputs = model(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    sum(o.float().mean() for o in outputs).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _cuda_peaks(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> dict:
    peaks = {}
    for phase in ("forward", "train_step"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        if phase == "forward":
            with torch.no_grad():
                model.eval()(*inputs)
        else:
            training_step(model, inputs)
        torch.cuda.synchronize()
        peaks[f"{phase}_peak_mib"] = torch.cuda.max_memory_allocated() / MIB
        peaks[f"{phase}_baseline_mib"] = baseline / MIB
    return {"measured": True, "method": "torch.cuda.max_memory_allocated", **peaks}


def _status_kib(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{STATUS} has no {field} line")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size


def _cpu_child(results: mp.Queue, module: str, model_name: str, variant: str | None, options: dict,
               num_classes: int, size: int, batch: int, threads: int) -> None:
    """Runs in a fresh process: build, then one forward, then one training step, each peak in MiB."""
    try:
        torch.set_num_threads(threads)
        import_model_module(module)   # a model registered outside the suite's packages
        model = build_model(model_name, variant=variant, num_classes=num_classes, pretrained=False, **options)
        inputs = example_inputs(size, batch)
        peaks = {"baseline_mib": _status_kib("VmRSS") / 1024}  # interpreter, torch and the built model
        _reset_peak()
        with torch.no_grad():
            model.eval()(*inputs)
        peaks["forward_peak_mib"] = _status_kib("VmHWM") / 1024
        _reset_peak()
        training_step(model, inputs)
        peaks["train_step_peak_mib"] = _status_kib("VmHWM") / 1024
        results.put(peaks)
    except Exception as err:  # the parent reports it; a child's traceback would be lost
        results.put({"error": f"{type(err).__name__}: {err}"})


def _cpu_peaks(model_name: str, variant: str | None, options: dict, num_classes: int, size: int, batch: int,
               timeout_s: float) -> dict:
    if not STATUS.exists():
        return {"measured": False, "reason": f"CPU peak memory needs {STATUS} (Linux); not found"}
    context = mp.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_cpu_child, daemon=True,
                            args=(results, get_model(model_name).module, model_name, variant, options, num_classes,
                                  size, batch, torch.get_num_threads()))
    child.start()
    try:
        peaks = results.get(timeout=timeout_s)
    except queue.Empty:
        peaks = {"error": f"no answer from the child process within {timeout_s:.0f} s"}
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
    if "error" in peaks:
        log.warning("CPU peak memory not measured: %s", peaks["error"])
        return {"measured": False, "reason": peaks["error"]}
    forward_increment = peaks["forward_peak_mib"] - peaks["baseline_mib"]
    return {"measured": True, "method": "peak resident memory (VmHWM) of a child process", **peaks,
            "forward_increment_mib": forward_increment,
            "train_step_increment_mib": peaks["train_step_peak_mib"] - peaks["baseline_mib"]}


def measure_peak_memory(model_name: str, variant: str | None = None, num_classes: int = 6, size: int = 256,
                        batch: int = 1, device: str = "cpu", timeout_s: float = 600.0,
                        options: dict | None = None) -> dict:
    """Peak memory of one forward and one training step of a freshly built model (pretrained=False).
    Returns {"measured": False, "reason": ...} when it cannot be measured; sizes in MiB."""
    conditions = {"batch": batch, "resolution": [size, size], "device": device}
    if torch.device(device).type == "cuda":
        torch.manual_seed(0)
        model = build_model(model_name, variant=variant, num_classes=num_classes, pretrained=False,
                            **(options or {})).to(device)
        return {**_cuda_peaks(model, example_inputs(size, batch, device)), **conditions}
    return {**_cpu_peaks(model_name, variant, options or {}, num_classes, size, batch, timeout_s), **conditions}

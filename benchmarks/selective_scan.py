"""Selective-scan benchmark: the chunked PyTorch scan against a per-token reference, quiet and under load,
and on a GPU against mamba-ssm's CUDA kernel.

    python benchmarks/selective_scan.py [--threads 1 2] [--load quiet loaded] [--repeats 7]
                                        [--sizes 1,256,16,1024 1,256,16,4096 ...] [--ref-max-length 4096]
                                        [--backward] [--plan 8,262144,2048] [--out table.md|table.csv]
    python benchmarks/selective_scan.py --device cuda [--sizes ...]     # kernel vs PyTorch path, on a GPU

CPU: for each load condition, thread count and size (batch, dim D, state N, length L) the PyTorch path
(`selective_scan`) and the reference (mamba-ssm's `selective_scan_ref` when mamba-ssm is installed, else
`per_token_scan`, the same per-token loop written for this suite; the table says which) run alternately,
`--repeats` times each, in one process with the same thread count; the table gives medians, their ratio,
our fastest run, the largest difference between the two outputs (relative to the largest output), and
the machine's 1-minute load average when the row started (os.getloadavg). `loaded`: the script first
starts one busy process per CPU core (a pure-Python loop, stopped at the end), as data-loader workers or
a shared node would. `--plan chunk,step_elements,segment` replaces the CPU plan of
`ms2mnet.ops.chunked_scan` (to compare cuts). Inputs: float32, random u, B, C, z, D; delta from softplus
with a bias, A in [-16, -1] (Mamba's initial range).

CUDA: the same inputs on the GPU; mamba-ssm's kernel and the PyTorch path on the GPU compared (forward
output, last state, and the gradients of every input from a loss on the output; the kernel gives the last
state no gradient) and timed with CUDA events, forward and forward+backward.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import subprocess
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ms2mnet.ops import chunked_scan
from ms2mnet.ops.reference import load_mamba_reference, per_token_scan
from ms2mnet.ops.selective_scan import mamba_kernel, selective_scan, selective_scan_pytorch

ARG_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(batch: int, dim: int, state: int, length: int, device: str, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=gen)   # noqa: E731
    inputs = {"u": rand(batch, dim, length), "delta": rand(batch, dim, length) * 0.5 - 2.0,
              "A": -1 - 15 * torch.rand(dim, state, generator=gen), "B": rand(batch, state, length),
              "C": rand(batch, state, length), "D": rand(dim), "z": rand(batch, dim, length),
              "delta_bias": torch.rand(dim, generator=gen) * 0.5}
    return {k: v.to(device) for k, v in inputs.items()}


def parse_size(text: str) -> tuple[int, int, int, int]:
    try:
        batch, dim, state, length = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must be batch,dim,state,length, e.g. 1,256,16,4096")
    return batch, dim, state, length


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


def run(fn: Callable, inputs: dict, backward: bool) -> torch.Tensor:
    if not backward:
        with torch.no_grad():
            return fn(**inputs, delta_softplus=True)
    leaves = {k: v.detach().requires_grad_() for k, v in inputs.items()}
    out = fn(**leaves, delta_softplus=True)
    out.sum().backward()
    return out.detach()


@contextlib.contextmanager
def busy_cores(count: int):
    """`count` processes spinning a pure-Python loop (one per core: the load of data-loader workers or
    other jobs on a shared node), stopped on exit."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(1.0)   # let them reach the run queue
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def cpu_rows(sizes, repeats: int, ref_max_length: int, backward: bool, reference, ref_name: str,
             condition: str) -> list[dict]:
    rows = []
    for batch, dim, state, length in sizes:
        inputs = make_inputs(batch, dim, state, length, "cpu")
        with_ref = length <= ref_max_length
        load = os.getloadavg()[0]
        ours_out, ref_out = run(selective_scan, inputs, backward), None   # warm-up
        if with_ref:
            ref_out = run(reference, inputs, backward)
        ours, ref = [], []
        for _ in range(repeats):   # alternate, so that the load of a shared machine hits both alike
            start = time.perf_counter()
            run(selective_scan, inputs, backward)
            ours.append(time.perf_counter() - start)
            if with_ref:
                start = time.perf_counter()
                run(reference, inputs, backward)
                ref.append(time.perf_counter() - start)
        row = {"condition": condition, "threads": torch.get_num_threads(), "load_1min": load, "batch": batch,
               "dim": dim, "state": state, "length": length, "pass": "fwd+bwd" if backward else "fwd",
               "ours_ms": 1e3 * statistics.median(ours), "ours_min_ms": 1e3 * min(ours),
               "reference_ms": 1e3 * statistics.median(ref) if ref else None, "reference": ref_name}
        row["speedup"] = row["reference_ms"] / row["ours_ms"] if ref else None
        row["max_rel_diff"] = relative_error(ours_out, ref_out) if ref_out is not None else None
        rows.append(row)
        print(f"done {condition}, {row['threads']} threads, {batch},{dim},{state},{length}: "
              f"{row['ours_ms']:.1f} ms vs {row['reference_ms'] or float('nan'):.1f} ms", file=sys.stderr)
    return rows


def cpu_table(sizes, repeats: int, ref_max_length: int, backward: bool, threads=(2,),
              loads=("quiet",)) -> list[dict]:
    reference = load_mamba_reference()
    ref_name = "mamba-ssm selective_scan_ref" if reference else "per_token_scan (mamba-ssm not installed)"
    reference = reference or per_token_scan
    rows = []
    for condition in loads:
        with busy_cores(os.cpu_count() or 1) if condition == "loaded" else contextlib.nullcontext():
            for count in threads:
                torch.set_num_threads(count)
                rows += cpu_rows(sizes, repeats, ref_max_length, backward, reference, ref_name, condition)
    return rows


def device_ms(fn: Callable, repeats: int, device: torch.device) -> float:
    """Median milliseconds of fn(): CUDA events on a GPU, the wall clock elsewhere."""
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        else:
            start = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def kernel_table(sizes, repeats: int, device: str = "cuda") -> list[dict]:
    """mamba-ssm's kernel (where it serves this device, else the per-token loop) against the PyTorch path:
    agreement of outputs, last states and every input's gradient, and forward / forward+backward times."""
    dev = torch.device(device)
    kernel = mamba_kernel(dev) if dev.type == "cuda" else None
    if kernel is None:
        print(f"mamba-ssm's kernel does not serve {dev}: comparing the PyTorch path with the per-token loop",
              file=sys.stderr)
    other, other_name = (kernel, "mamba-ssm kernel") if kernel else (per_token_scan, "per_token_scan")
    rows = []
    for batch, dim, state, length in sizes:
        inputs = make_inputs(batch, dim, state, length, device)
        row = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev), "batch": batch,
               "dim": dim, "state": state, "length": length, "compared_with": other_name}
        results = {}
        for name, fn in (("pytorch", selective_scan_pytorch), ("other", other)):
            leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
            out, last = fn(**leaves, delta_softplus=True, return_last_state=True)
            out.sum().backward()
            results[name] = (out.detach(), last.detach(), {k: v.grad for k, v in leaves.items()})
        (out_p, last_p, grads_p), (out_o, last_o, grads_o) = results["pytorch"], results["other"]
        row["out_rel_diff"] = relative_error(out_p, out_o)
        row["last_state_rel_diff"] = relative_error(last_p, last_o)
        row["worst_grad_rel_diff"] = max(relative_error(grads_p[k], grads_o[k]) for k in ARG_NAMES)
        for name, fn in (("pytorch", selective_scan_pytorch), ("other", other)):
            for backward in (False, True):
                run(fn, inputs, backward)   # warm-up
                key = f"{name}_{'fwd_bwd' if backward else 'fwd'}_ms"
                row[key] = device_ms(lambda: run(fn, inputs, backward), repeats, dev)
        rows.append(row)
        print(f"done {batch},{dim},{state},{length}", file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    def fmt(v) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
        return str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(row.get(k)) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts")
    parser.add_argument("--load", nargs="+", choices=("quiet", "loaded"), default=["quiet", "loaded"],
                        help="CPU: as the machine is, and with one busy process per core started by the script")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(1, 256, 16, 1024), (1, 256, 16, 4096)])
    parser.add_argument("--ref-max-length", type=int, default=4096,
                        help="CPU: time the per-token reference only up to this L (it is slow)")
    parser.add_argument("--backward", action="store_true", help="CPU: time forward+backward instead of forward")
    parser.add_argument("--plan", type=lambda t: chunked_scan.ScanPlan(*(int(x) for x in t.split(","))),
                        help="CPU: chunk,step_elements,segment instead of the suite's CPU plan")
    parser.add_argument("--out", type=Path, help="also write the table (.md or .csv)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch")
    if args.plan:
        chunked_scan.PLANS["cpu"] = args.plan
    plan = chunked_scan.PLANS["cpu" if args.device == "cpu" else "gpu"]
    if args.device == "cpu":
        rows = cpu_table(args.sizes, args.repeats, args.ref_max_length, args.backward, args.threads, args.load)
    else:
        rows = kernel_table(args.sizes, args.repeats)
    table = markdown(rows)
    conditions = (f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
                  f"{os.cpu_count()} CPUs, {args.repeats} repeats, medians (ours_min_ms: the fastest run), "
                  f"scan plan {plan}, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(table + "\n\n" + conditions)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix == ".csv":
            with args.out.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
                writer.writeheader()
                writer.writerows(rows)
        else:
            args.out.write_text(table + "\n\n" + conditions + "\n")


if __name__ == "__main__":
    main()

"""The complexity report: every variant of a model at one size, then the scaling sweeps, as Markdown.

    python benchmarks/complexity_report.py --out reports/complexity.md [--json rows.json]

Takes minutes on a 2-core CPU (attention at 1024 alone runs ~10 TMACs to be counted); run it on a quiet
machine, since latency is wall clock.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch

from ms2mnet.cli.bench import markdown
from ms2mnet.bench.flops import UNIT, count_flops
from ms2mnet.bench.inputs import example_inputs
from ms2mnet.bench.latency import device_name, measure_latency
from ms2mnet.bench.output import write_json, write_text
from ms2mnet.bench.params import count_parameters
from ms2mnet.bench.scaling import mixer_sweep, model_sweep
from ms2mnet.models import build_model, list_models


def variant_rows(model: str, size: int, runs: int, warmup: int) -> list[dict]:
    rows = []
    for variant in list_models()[model]:
        torch.manual_seed(0)
        net = build_model(model, variant=variant, pretrained=False).eval()
        flops = count_flops(net, example_inputs(size))
        timing = measure_latency(net, example_inputs(size), warmup=warmup, runs=runs)
        params = count_parameters(net)
        rows.append({"variant": variant, "gmacs": flops.gmacs, "params_m": params["total"] / 1e6,
                     "median_ms": timing["median_ms"], "p90_ms": timing["p90_ms"],
                     "unknown_ops": ", ".join(flops.unknown) or "none"})
    return rows


def conditions(size: int, runs: int, warmup: int) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{UNIT} (one multiply-add = one FLOP; elementwise ops, reductions and max-pooling uncounted), "
            f"eval mode, batch 1, float32, pretrained=false. Latency: wall clock, median and p90 of {runs} "
            f"forwards after {warmup} warm-up, {device_name('cpu')}, {torch.get_num_threads()} threads, "
            f"torch {torch.__version__}, load average at the end {load}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ms2mnet")
    parser.add_argument("--size", type=int, default=256, help="input side of the variant table")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024], help="scaling sweep sides")
    parser.add_argument("--sweep-variants", nargs="+", default=["full", "attention", "no_mixer"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--latency-max-gmacs", type=float, default=200.0, help="no timing above this")
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: print)")
    parser.add_argument("--json", type=Path, help="also write every row as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("fvcore").setLevel(logging.ERROR)

    variants = variant_rows(args.model, args.size, args.runs, args.warmup)
    sweep = {"runs": 5, "warmup": 1, "max_latency_gmacs": args.latency_max_gmacs}
    mixers = list(mixer_sweep(args.sizes, **sweep))
    models = list(model_sweep(args.sizes, args.model, args.sweep_variants, **sweep))
    text = "\n\n".join([
        f"## {args.model} variants at {args.size}x{args.size}",
        markdown(variants, ["variant", "gmacs", "params_m", "median_ms", "p90_ms", "unknown_ops"]),
        conditions(args.size, args.runs, args.warmup),
        "## Scaling: VFE mixers alone, per level",
        markdown(mixers, ["name", "size", "level", "channels", "side", "tokens", "gmacs", "median_ms",
                          "latency_note"]),
        "## Scaling: whole models",
        markdown(models, ["name", "size", "gmacs", "median_ms", "p90_ms", "latency_note"]),
        conditions(args.size, 5, 1),
    ]) + "\n"
    if args.out:
        write_text(args.out, text)
    else:
        print(text)
    if args.json:
        write_json(args.json, {"variants": variants, "mixers": mixers, "models": models})


if __name__ == "__main__":
    main()

"""`ms2mnet models`: every registered model and variant with its size, optionally measured."""

from __future__ import annotations

import argparse
import re
from datetime import date
from pathlib import Path

import torch

from ms2mnet.models.registry import build_model, list_models

README_START, README_END = "<!-- models-table:start -->", "<!-- models-table:end -->"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list registered models and variants with their size")
    parser.add_argument("--measure", action="store_true",
                        help="also count GMACs (fvcore) and time the CPU forward (slow: minutes)")
    parser.add_argument("--size", type=int, default=256, help="input side for --measure (default 256)")
    parser.add_argument("--runs", type=int, default=10, help="timed forwards per model for --measure")
    parser.add_argument("--update-readme", type=Path, metavar="FILE",
                        help=f"write the table into FILE between {README_START} and {README_END}")
    parser.set_defaults(func=run)


def models_table(measure: bool, size: int, runs: int) -> str:
    from ms2mnet.bench.flops import UNIT, count_flops
    from ms2mnet.bench.latency import device_name, measure_latency

    header = ["model", "variant", "params (M)"]
    if measure:
        header += [UNIT, "CPU latency median (ms)", "p90 (ms)"]
    rows = []
    inputs = (torch.rand(1, 3, size, size), torch.rand(1, 1, size, size))
    for name, variants in list_models().items():
        for variant in variants:
            torch.manual_seed(0)
            model = build_model(name, variant=variant, pretrained=False).eval()
            row = [name, variant or "–", f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}"]
            if measure:
                flops = count_flops(model, inputs)
                latency = measure_latency(model, inputs, warmup=3, runs=runs)
                row += [f"{flops.gmacs:.2f}", f"{latency['median_ms']:.0f}", f"{latency['p90_ms']:.0f}"]
            rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if measure:
        lines.append("")
        lines.append(
            f"Eval mode, input 1x3x{size}x{size} + 1x1x{size}x{size}, float32, pretrained=false. "
            f"GMACs: fvcore, one multiply-add = one FLOP (MACs), elementwise ops not counted. "
            f"Latency: batch 1, median and p90 of {runs} timed forwards after 3 warm-up, no_grad, CPU "
            f"({device_name('cpu')}), {torch.get_num_threads()} threads, torch {torch.__version__}. "
            f"Written by `ms2mnet models --measure` on {date.today().isoformat()}."
        )
    return "\n".join(lines)


def replace_between_markers(path: Path, text: str, start: str = README_START, end: str = README_END) -> None:
    content = path.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(content):
        raise ValueError(f"{path}: markers {start} ... {end} not found; add them where the table goes")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", content))
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    table = models_table(args.measure, args.size, args.runs)
    print(table)
    if args.update_readme:
        replace_between_markers(args.update_readme, table)
    return 0

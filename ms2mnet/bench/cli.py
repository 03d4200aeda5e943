"""`ms2mnet bench flops|latency|scaling|complexity`: the complexity measurements from the command line.

Tables print as Markdown; `--out FILE.json|.csv` also writes the rows (complexity: the JSON record).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ms2mnet.models import build_model, get_model, list_models, resolve_variant

from .complexity import measure_complexity
from .flops import UNIT, count_flops, count_flops_with_aux
from .groups import module_groups
from .inputs import example_inputs
from .latency import measure_latency
from .output import write_json, write_rows
from .params import count_parameters
from .scaling import mixer_sweep, model_sweep


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help=f"complexity: {UNIT}, parameters, latency, scaling sweeps")
    commands = parser.add_subparsers(dest="bench_command", required=True)

    flops = commands.add_parser("flops", help=f"{UNIT} and parameters of models, by group")
    _model_options(flops, many=True)
    flops.add_argument("--aux", action="store_true",
                       help="also count the model in train mode with its auxiliary heads (column gmacs_aux), "
                            "as the authors counted with thop")
    flops.set_defaults(func=run_flops)

    latency = commands.add_parser("latency", help="median/p90 forward latency and throughput")
    _model_options(latency, many=True)
    _timing_options(latency, runs=20, warmup=5)
    latency.add_argument("--batch", type=int, default=1, help="batch size (throughput = batch / median)")
    latency.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    latency.add_argument("--amp", action="store_true", help="float16 autocast (CUDA only)")
    latency.set_defaults(func=run_latency)

    scaling = commands.add_parser("scaling", help=f"{UNIT} and latency over input sizes, mixers or whole models")
    scaling.add_argument("--what", choices=("mixers", "models"), default="mixers")
    scaling.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024], help="input sides")
    scaling.add_argument("--model", default="ms2mnet", help="registered model for --what models")
    scaling.add_argument("--variants", nargs="+", help="variants for --what models (default: all)")
    scaling.add_argument("--mixers", nargs="+", help="mixers for --what mixers (default: all)")
    scaling.add_argument("--no-latency", dest="latency", action="store_false", help="count GMACs only")
    scaling.add_argument("--latency-max-gmacs", type=float, default=200.0,
                         help="skip timing where one forward exceeds this many GMACs (default 200; 0: no limit)")
    scaling.add_argument("--device", default="cpu", help="where latency is measured (default cpu)")
    _timing_options(scaling, runs=5, warmup=1)
    scaling.add_argument("--out", type=Path, help="also write the rows to FILE.json or FILE.csv")
    scaling.set_defaults(func=run_scaling)

    complexity = commands.add_parser("complexity", help="everything for one model: the complexity.json record")
    _model_options(complexity, many=False)
    _timing_options(complexity, runs=20, warmup=5)
    complexity.add_argument("--throughput-batch", type=int, default=1)
    complexity.add_argument("--device", default="cpu")
    complexity.add_argument("--amp", action="store_true", help="float16 autocast for timing (CUDA only)")
    complexity.add_argument("--no-memory", dest="memory", action="store_false", help="skip peak memory")
    complexity.set_defaults(func=run_complexity)


def _model_options(parser: argparse.ArgumentParser, many: bool) -> None:
    parser.add_argument("--model", default="ms2mnet", help="registered model name (default ms2mnet)")
    if many:
        parser.add_argument("--variant", nargs="+", default=[None],
                            help="variant(s), or 'all' (default: the model's default variant)")
    else:
        parser.add_argument("--variant", help="variant (default: the model's default variant)")
    parser.add_argument("--size", type=int, default=256, help="input side (default 256)")
    parser.add_argument("--num-classes", type=int, default=6)
    formats = "FILE.json or FILE.csv" if many else "FILE.json"
    parser.add_argument("--out", type=Path, help=f"also write the result to {formats}")


def _timing_options(parser: argparse.ArgumentParser, runs: int, warmup: int) -> None:
    parser.add_argument("--runs", type=int, default=runs, help=f"timed forwards (default {runs})")
    parser.add_argument("--warmup", type=int, default=warmup, help=f"untimed forwards first (default {warmup})")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def _variants(args: argparse.Namespace) -> list[str | None]:
    if args.variant == ["all"]:
        return list_models()[get_model(args.model).name]
    return [resolve_variant(args.model, v) for v in args.variant]


def markdown(rows: list[dict], columns: list[str]) -> str:
    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else ("" if value is None else str(value))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows])


def _build(args: argparse.Namespace, variant: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(args.model, variant=variant, num_classes=args.num_classes, pretrained=False).eval()


def run_flops(args: argparse.Namespace) -> int:
    rows = []
    for variant in _variants(args):
        model = _build(args, variant)
        flops = count_flops(model, example_inputs(args.size))
        params = count_parameters(model)
        by_group = flops.by_group(module_groups(model))
        aux = {"gmacs_aux": count_flops_with_aux(model, example_inputs(args.size)).gmacs} if args.aux else {}
        rows.append({"model": args.model, "variant": variant, "size": args.size, "gmacs": flops.gmacs, **aux,
                     "params_m": params["total"] / 1e6,
                     **{f"gmacs_{g}": m / 1e9 for g, m in by_group.items()},
                     **{f"params_m_{g}": n / 1e6 for g, n in params["by_group"].items()},
                     "unsupported_ops": ", ".join(sorted(flops.unsupported)),
                     "unknown_ops": ", ".join(sorted(flops.unknown)) or "none"})
    leading = ["variant", "gmacs"] + (["gmacs_aux"] if args.aux else []) + ["params_m"]
    columns = leading + [c for c in rows[0] if c.startswith(("gmacs_", "params_m_")) and c not in leading]
    print(markdown(rows, columns))
    print(f"\n{UNIT}: one multiply-add = one FLOP. Eval mode, input 1x3x{args.size}x{args.size} + 1x1x{args.size}x"
          f"{args.size}. Uncounted ops: {rows[0]['unsupported_ops']}; "
          f"of those, ops of unknown cost (not elementwise, reduction or pooling): {rows[0]['unknown_ops']}.")
    if args.aux:
        print("gmacs_aux: one train-mode forward, auxiliary heads included, batch norm counted as in eval mode; "
              "the groups are from the eval-mode count.")
    if args.out:
        write_rows(args.out, rows)
    return 0


def run_latency(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for variant in _variants(args):
        model = _build(args, variant).to(args.device)
        timing = measure_latency(model, example_inputs(args.size, args.batch, args.device),
                                 args.warmup, args.runs, args.amp)
        rows.append({"model": args.model, "variant": variant, **timing})
    print(markdown(rows, ["variant", "median_ms", "p90_ms", "throughput_img_s"]))
    t = rows[0]
    print(f"\n{t['runs']} timed forwards after {t['warmup']} warm-up, batch {t['batch']}, {args.size}x{args.size}, "
          f"{t['precision']}, {t['device_name']} ({t['device']}, {t['threads']} threads), timer {t['timer']}, "
          f"no sliding window, torch {torch.__version__}.")
    if args.out:
        write_rows(args.out, rows)
    return 0


def run_scaling(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    limit = args.latency_max_gmacs or None
    common = {"latency": args.latency, "runs": args.runs, "warmup": args.warmup, "max_latency_gmacs": limit,
              "device": args.device}
    if args.what == "mixers":
        rows = list(mixer_sweep(args.sizes, args.mixers, **common))
        columns = ["name", "size", "level", "channels", "side", "tokens", "gmacs", "median_ms", "p90_ms",
                   "latency_note"]
    else:
        rows = list(model_sweep(args.sizes, args.model, args.variants, **common))
        columns = ["name", "size", "gmacs", "median_ms", "p90_ms", "latency_note"]
    print(markdown(rows, columns))
    print(f"\n{UNIT}, eval mode, batch 1; latency after {args.warmup} warm-up over {args.runs} runs.")
    if args.out:
        write_rows(args.out, rows)
    return 0


def run_complexity(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    record = measure_complexity(args.model, args.variant, args.num_classes, args.size, device=args.device,
                                latency_runs=args.runs, latency_warmup=args.warmup,
                                throughput_batch=args.throughput_batch, amp=args.amp, memory=args.memory)
    if args.out:
        write_json(args.out, record)
    memory = record["peak_memory"]
    print(f"{args.model}/{args.variant} at {args.size}x{args.size}: {record['gmacs']:.2f} {UNIT} "
          f"({record['gmacs_with_aux']:.2f} in train mode with the auxiliary heads), "
          f"{record['params']['total'] / 1e6:.2f} M params, latency median {record['latency']['median_ms']:.1f} ms "
          f"(p90 {record['latency']['p90_ms']:.1f}) on {record['device_name']}, peak memory "
          + (f"{memory['forward_peak_mib']:.0f} MiB (forward)" if memory["measured"] else memory["reason"]))
    return 0

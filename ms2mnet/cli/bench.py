"""`ms2mnet bench flops|latency|scaling|train|complexity`: the complexity measurements from the command line.

Tables print as Markdown; `--out FILE.json|.csv` also writes the rows (complexity: the JSON record).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ms2mnet.models import build_model, get_model, list_models, resolve_variant

from ms2mnet.bench.complexity import measure_complexity
from ms2mnet.bench.flops import UNIT, count_flops, count_flops_with_aux
from ms2mnet.bench.groups import module_groups
from ms2mnet.bench.inputs import example_inputs
from ms2mnet.bench.latency import measure_latency
from ms2mnet.bench.output import write_json, write_rows
from ms2mnet.bench.params import count_parameters
from ms2mnet.bench.scaling import mixer_sweep, model_sweep
from ms2mnet.bench.train import VAIHINGEN_TEST_TILE, bench_train


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help=f"complexity: {UNIT}, parameters, latency, scaling sweeps, training cost")
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

    train = commands.add_parser(
        "train", help="training throughput (images/s) and sliding-window evaluation time of one model",
        description="Times full optimiser steps with the model's registered loss (AMP bf16 and channels_last "
                    "on CUDA) on random 256x256 batches of 10, then the evaluator over a Vaihingen-sized test "
                    "set (4 tiles of 2494x2064, window 256, stride 32) of random tiles.")
    train.add_argument("--model", default="ms2mnet", help="registered model name (default ms2mnet)")
    train.add_argument("--variant", help="variant (default: the model's default variant)")
    train.add_argument("--run", metavar="NAME", help="a run name (ms2mnet-no_dfe, fusenet): sets --model and --variant")
    train.add_argument("--size", type=int, default=256, help="training crop side (default 256)")
    train.add_argument("--batch", type=int, default=10, help="training batch (default 10)")
    train.add_argument("--steps", type=int, default=10, help="timed training steps (default 10)")
    train.add_argument("--warmup", type=int, default=3, help="untimed training steps first (default 3)")
    train.add_argument("--layout", default="vaihingen", choices=("vaihingen", "potsdam"),
                       help="whose loss and aux weights (default vaihingen)")
    train.add_argument("--loss-epoch", type=int, default=1, help="epoch whose loss stage is timed (default 1)")
    train.add_argument("--tiles", type=int, default=4, help="evaluation tiles (default 4, Vaihingen's test set)")
    train.add_argument("--tile-size", type=_height_width, default=VAIHINGEN_TEST_TILE, metavar="HxW",
                       help="evaluation tile size (default 2494x2064)")
    train.add_argument("--window", type=int, default=256, help="sliding window (default 256)")
    train.add_argument("--stride", type=int, default=32, help="sliding-window stride (default 32, Vaihingen)")
    train.add_argument("--eval-batch", type=int, default=16, help="windows per forward (default 16)")
    train.add_argument("--no-eval", dest="evaluation", action="store_false", help="time training only")
    train.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                       help="bf16 autocast (fp16 where bf16 is missing); CUDA only (default on)")
    train.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                       help="channels_last memory format (default: on CUDA, off on the CPU, where it is slower)")
    train.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                       help="cpu or cuda (default: cuda when there is one)")
    train.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    train.add_argument("--out", type=Path, help="also write the record to FILE.json")
    train.set_defaults(func=run_train)

    cost = commands.add_parser(
        "cost", help="hours of a matrix (runs x seeds x profile) from measured training and evaluation speed",
        description="Reads `ms2mnet bench train --out` records (--measurements), or measures each run now "
                    "(--measure, with the bench train options below), and turns them into hours per run and in "
                    "total for the profile's schedule on the dataset's test set.")
    cost.add_argument("--runs", nargs="+", required=True, help="run names, e.g. ms2mnet-full ms2mnet-no_dfe fusenet")
    cost.add_argument("--seeds", type=int, default=3, help="seeds per run (default 3)")
    cost.add_argument("--dataset", default="vaihingen", help="whose test set and stride (default vaihingen)")
    cost.add_argument("--profile", default="paper", help="training schedule (default paper)")
    cost.add_argument("--selection", choices=("last", "test_best"), default="last",
                      help="test_best evaluates after every epoch too (default last)")
    cost.add_argument("--test-tiles", type=int, help="test tiles (default: the dataset's, or its prepared manifest's)")
    cost.add_argument("--prepared", type=Path, default=Path("data/prepared"),
                      help="where a dataset other than vaihingen or potsdam is prepared (default data/prepared)")
    cost.add_argument("--test-tile-size", type=_height_width, metavar="HxW", help="test tile size (default: the "
                                                                                  "dataset's)")
    cost.add_argument("--measurements", type=Path, nargs="+", default=[],
                      help="records of `ms2mnet bench train --out FILE.json`, one per run")
    cost.add_argument("--measure", action="store_true", help="measure every run without a record now")
    for name, kind, default in (("--size", int, 256), ("--batch", int, 10), ("--steps", int, 10),
                                ("--warmup", int, 3), ("--tiles", int, 1), ("--window", int, 256),
                                ("--stride", int, 32), ("--eval-batch", int, 16)):
        cost.add_argument(name, type=kind, default=default, help=f"with --measure: as for bench train (default {default})")
    cost.add_argument("--tile-size", type=_height_width, default=(512, 512), metavar="HxW",
                      help="with --measure: evaluation tile size (default 512x512)")
    cost.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    cost.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    cost.add_argument("--out", type=Path, help="also write the table to FILE.md, or the rows to FILE.json")
    cost.set_defaults(func=run_cost)

    complexity = commands.add_parser("complexity", help="everything for one model: the complexity.json record")
    _model_options(complexity, many=False)
    _timing_options(complexity, runs=20, warmup=5)
    complexity.add_argument("--throughput-batch", type=int, default=1)
    complexity.add_argument("--device", default="cpu")
    complexity.add_argument("--amp", action="store_true", help="float16 autocast for timing (CUDA only)")
    complexity.add_argument("--no-memory", dest="memory", action="store_false", help="skip peak memory")
    complexity.set_defaults(func=run_complexity)


def _height_width(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEIGHTxWIDTH, e.g. 2494x2064") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: height and width must be positive")
    return height, width


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
          f"(p90 {record['latency']['p90_ms']:.1f}; {record['latency']['runs']} runs after {record['latency']['warmup']} "
          f"warm-up, batch 1, {record['latency']['precision']}, {record['latency']['threads']} threads) on "
          f"{record['device_name']}, peak memory "
          + (f"{memory['forward_peak_mib']:.0f} MiB (forward)" if memory["measured"] else memory["reason"]))
    return 0


def run_train(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.run:
        from ms2mnet.models.registry import parse_run
        args.model, args.variant = parse_run(args.run)
    record = bench_train(args.model, args.variant, device=args.device, layout=args.layout, size=args.size,
                         batch=args.batch, warmup=args.warmup, steps=args.steps, amp=args.amp,
                         channels_last=args.channels_last, loss_epoch=args.loss_epoch, evaluation=args.evaluation,
                         tiles=args.tiles, tile_size=args.tile_size, window=args.window, stride=args.stride,
                         eval_batch=args.eval_batch)
    print(markdown([record], ["model", "variant", "train_img_s", "train_step_ms", "train_peak_mib", "eval_s",
                              "eval_windows_s"]))
    print(f"\nTraining: {record['train_steps']} timed steps after {record['train_warmup']} warm-up, batch "
          f"{record['train_batch']}, {record['train_size']}x{record['train_size']}, loss '{record['loss']}' "
          f"({record['layout']} weights, epoch {record['loss_epoch']} stage), {record['precision']}, channels_last "
          f"{'on' if record['channels_last'] else 'off'}; {record['device_name']} ({record['device']}, "
          f"{record['threads']} threads), torch {record['torch']}." + (f" {record['note']}." if record['note'] else ""))
    if "eval_s" in record:
        height, width = record["eval_tile_size"]
        print(f"Evaluation: {record['eval_tiles']} random tiles of {height}x{width}, window {record['eval_window']}, "
              f"stride {record['eval_stride']}, {record['eval_windows']} windows in batches of {record['eval_batch']}, "
              "no TTA, ms2mnet.engine.evaluate.")
    if args.out:
        write_json(args.out, record)
    return 0


def run_cost(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from ms2mnet.app import compose_config
    from ms2mnet.models.registry import parse_run

    from ms2mnet.bench.cost import TEST_SETS, cost_rows, markdown, prepared_test_set, read_measurements, schedule

    if args.threads:
        torch.set_num_threads(args.threads)
    tiles, size = TEST_SETS.get(args.dataset, (args.test_tiles, args.test_tile_size))
    tiles, size = args.test_tiles or tiles, args.test_tile_size or size
    if not (tiles and size):
        tiles = prepared_test_set(args.prepared, args.dataset)
        if not tiles:
            raise ValueError(f"--dataset {args.dataset}: no known test set and nothing prepared under "
                             f"{args.prepared / args.dataset}; give --test-tiles and --test-tile-size")
    cfg = compose_config(f"dataset={args.dataset}", f"profile={args.profile}")
    plan = schedule(args.profile, OmegaConf.to_container(cfg.profile.train, resolve=True),
                    OmegaConf.to_container(cfg.profile.eval, resolve=True), tiles, size, selection=args.selection)
    measured = read_measurements(args.measurements)
    for run in args.runs if args.measure else []:
        if run not in measured:
            model, variant = parse_run(run)
            measured[run] = bench_train(model, variant, device=args.device, size=args.size, batch=args.batch,
                                        warmup=args.warmup, steps=args.steps, tiles=args.tiles,
                                        tile_size=args.tile_size, window=args.window, stride=args.stride,
                                        eval_batch=args.eval_batch)
    rows = cost_rows(args.runs, args.seeds, plan, measured)
    text = markdown(rows, plan, args.dataset, args.selection)
    print(text, end="")
    if args.out:
        if args.out.suffix == ".json":
            write_json(args.out, {"schedule": plan.__dict__, "rows": rows})
        else:
            from ms2mnet.io import atomic_path
            with atomic_path(args.out) as tmp:
                tmp.write_text(text)
    return 0

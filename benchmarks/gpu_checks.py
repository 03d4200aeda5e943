"""The GPU checks of the reproduction kit, in one script to run as is on a machine with a GPU.

    python benchmarks/gpu_checks.py [--out DIR]        # DIR defaults to $OUT, else ./gpu_checks

First, the selective scan: mamba-ssm's kernel against the suite's PyTorch path (agreement of outputs and
gradients, forward and forward+backward times; `benchmarks/selective_scan.py --device cuda`), at RS3Mamba's
first-stage shape at batch 10 by default. Where the kernel does not serve (no mamba-ssm, no compiled
kernel, a failed trial call: the warning says which), the per-token loop stands in and the table says so.
Then, for MS2MNet and every registered model (default variants), in this order:
1. training: AMP (bf16) steps with the model's registered loss, channels_last, 256x256, batch 10
   (`ms2mnet bench train`), images/s and peak memory; the loss must stay finite;
2. evaluation: the suite's evaluator over a Vaihingen-sized test set (4 random tiles of 2494x2064,
   window 256, stride 32), seconds;
3. latency: median forward of one 256x256 input (`ms2mnet bench latency`);
and once, for MS2MNet: the on-device evaluator against the authors' host-copy loop (host_copy_eval.py)
on the same tile with the same model and windows: seconds of each, the ratio, and the share of pixels
whose predicted class agrees.
Last, the estimated hours of the paper's matrix from these measurements: every registered run (each
MS2MNet variant at MS2MNet full's cost) x seeds x datasets, training steps of the `paper` profile at the
measured step time plus one final evaluation of each dataset's test tiles at the measured window rate.
Writes gpu_checks.md (a Markdown table with the card's name) and gpu_checks.json to DIR, rewritten after
every model, so a run cut short still leaves what it measured. Every size is an option, so that the
test suite runs this script on the CPU at a tiny size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import torch
from host_copy_eval import host_copy_predict
from omegaconf import OmegaConf
from selective_scan import kernel_table, parse_size

from ms2mnet.bench.inputs import example_inputs
from ms2mnet.bench.latency import device_name, measure_latency
from ms2mnet.bench.train import PAPER_PROFILE, VAIHINGEN_TEST_TILE, SyntheticTiles, bench_train
from ms2mnet.data.sampling import sliding_windows
from ms2mnet.data.specs import POTSDAM, VAIHINGEN
from ms2mnet.engine.inference import sliding_window_logits
from ms2mnet.models import build_model, import_model_module, list_models

NUM_CLASSES = 6


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_checks"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", help="registered models (default: ms2mnet, then every other one)")
    parser.add_argument("--import", dest="modules", nargs="+", default=[], metavar="MODULE",
                        help="modules that register models defined outside the suite (on PYTHONPATH)")
    parser.add_argument("--size", type=int, default=256, help="training crop and latency input side")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps and latency forwards")
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--tiles", type=int, default=4, help="evaluation tiles per model (0: skip)")
    parser.add_argument("--tile-size", type=int, nargs=2, default=list(VAIHINGEN_TEST_TILE), metavar=("H", "W"))
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--eval-batch", type=int, default=16)
    parser.add_argument("--scan-sizes", type=parse_size, nargs="*", default=[(10, 768, 16, 4096)],
                        help="batch,dim,state,length of the scan check (default: RS3Mamba's first stage, batch 10)")
    parser.add_argument("--scan-repeats", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per run in the matrix estimate")
    parser.add_argument("--compare-model", default="ms2mnet", help="model of the evaluator comparison ('' skips)")
    return parser.parse_args(argv)


def model_names(requested: list[str] | None) -> list[str]:
    names = requested or list(list_models())
    return sorted(names, key=lambda name: name != "ms2mnet")   # MS2MNet first: it matters most


def environment(device: torch.device) -> dict:
    cuda = device.type == "cuda"
    return {"device": str(device), "device_name": device_name(device), "torch": torch.__version__,
            "cuda": torch.version.cuda if cuda else None,
            "bf16": torch.cuda.is_bf16_supported() if cuda else None, "python": platform.python_version(),
            "threads": torch.get_num_threads()}


def measure_model(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    """Training, evaluation and latency of one model; an exception becomes the row's `error`."""
    row: dict = {"model": name}
    try:
        row.update(bench_train(name, device=str(device), size=args.size, batch=args.batch, warmup=args.warmup,
                               steps=args.steps, evaluation=args.tiles > 0, tiles=args.tiles,
                               tile_size=tuple(args.tile_size), window=args.window, stride=args.stride,
                               eval_batch=args.eval_batch))
        if not math.isfinite(row["last_loss"]):
            row["error"] = f"non-finite training loss {row['last_loss']}"
        torch.manual_seed(0)
        model = build_model(name, num_classes=NUM_CLASSES, pretrained=False).to(device)
        latency = measure_latency(model, example_inputs(args.size, 1, device), args.warmup, args.latency_runs,
                                  amp=device.type == "cuda")
        row.update(latency_ms=latency["median_ms"], latency_precision=latency["precision"])
    except Exception as err:   # one failing model must not hide the others' numbers
        row["error"] = f"{type(err).__name__}: {err}"
        traceback.print_exc()
    return row


def _timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result


def compare_evaluators(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    """The suite's on-device evaluator and the authors' host-copy loop on one tile: time, ratio, agreement."""
    amp = device.type == "cuda"
    torch.manual_seed(0)
    model = build_model(name, num_classes=NUM_CLASSES, pretrained=False).to(device).eval()
    tile = SyntheticTiles(1, *args.tile_size)[0]
    image, dsm = tile["image"].to(device), tile["dsm"].to(device)
    image_np, dsm_np = tile["image"].permute(1, 2, 0).numpy(), tile["dsm"][0].numpy()   # H W C on the host

    def ours():
        return sliding_window_logits(model, image, dsm, NUM_CLASSES, window=args.window, stride=args.stride,
                                     batch_size=args.eval_batch, amp=amp).argmax(0).cpu().numpy()

    def theirs():
        return host_copy_predict(model, image_np, dsm_np, NUM_CLASSES, args.window, args.stride, args.eval_batch,
                                 device, amp)

    with torch.no_grad():   # warm-up: kernels chosen before either clock starts
        model(image[None, :, :args.window, :args.window], dsm[None, :, :args.window, :args.window])
    ours_s, ours_pred = _timed(ours, device)
    theirs_s, theirs_pred = _timed(theirs, device)
    return {"model": name, "tile_size": list(args.tile_size), "window": args.window, "stride": args.stride,
            "batch": args.eval_batch, "precision": "amp" if amp else "float32", "evaluator_s": ours_s,
            "host_copy_s": theirs_s, "speedup": theirs_s / ours_s,
            "agreement": float((ours_pred == theirs_pred).mean())}


# The protocol's test sets: tiles, their size (H, W) and the evaluation stride (conf/dataset/*.yaml).
TEST_SETS = {"vaihingen": (len(VAIHINGEN.test), VAIHINGEN_TEST_TILE, 32),
             "potsdam": (len(POTSDAM.test), (6000, 6000), 64)}


def matrix_estimate(rows: list[dict], seeds: int, window: int) -> dict:
    """Hours of the paper matrix from the measured step times and evaluation rates: every registered run
    (MS2MNet's variants at MS2MNet's cost) x seeds x datasets, `paper` profile steps + one final evaluation."""
    train = OmegaConf.load(PAPER_PROFILE).train
    steps = train.epochs * train.iterations_per_epoch
    measured = {row["model"]: row for row in rows if "error" not in row and row.get("train_step_ms")}
    per_run, missing = [], []
    for model, variants in list_models().items():
        for variant in variants:
            run = model if variant is None else f"{model}-{variant}"
            row = measured.get(model)
            if row is None:
                missing.append(run)
                continue
            hours = {}
            for dataset, (tiles, (height, width), stride) in TEST_SETS.items():
                windows = tiles * len(sliding_windows(height, width, window, stride))
                eval_s = windows / row["eval_windows_s"] if row.get("eval_windows_s") else 0.0
                hours[dataset] = (steps * row["train_step_ms"] / 1e3 + eval_s) / 3600
            per_run.append({"run": run, **hours})
    total = seeds * sum(h for r in per_run for k, h in r.items() if k != "run")
    return {"steps": steps, "batch": train.batch_size, "seeds": seeds, "runs": per_run, "missing": missing,
            "total_hours": total}


def _cell(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(env: dict, args: argparse.Namespace, rows: list[dict], comparison: dict | None,
             scan: list[dict] | None = None, estimate: dict | None = None) -> str:
    height, width = args.tile_size
    lines = [f"# GPU checks on {env['device_name']}", "",
             f"torch {env['torch']}, CUDA {env['cuda'] or '–'}, device {env['device']}, bf16 "
             f"{env['bf16'] if env['bf16'] is not None else '–'}, measured {time.strftime('%Y-%m-%d %H:%M %Z')}.",
             ""]
    if scan:
        lines += ["## Selective scan: kernel against the PyTorch path", "",
                  "| B,D,N,L | compared with | out rel. diff | worst grad rel. diff | PyTorch fwd ms | other fwd ms "
                  "| PyTorch fwd+bwd ms | other fwd+bwd ms |", "|---|---|---|---|---|---|---|---|"]
        for r in scan:
            lines.append(f"| {r['batch']},{r['dim']},{r['state']},{r['length']} | {r['compared_with']} | "
                         f"{r['out_rel_diff']:.1e} | {r['worst_grad_rel_diff']:.1e} | {r['pytorch_fwd_ms']:.2f} | "
                         f"{r['other_fwd_ms']:.2f} | {r['pytorch_fwd_bwd_ms']:.2f} | {r['other_fwd_bwd_ms']:.2f} |")
        lines += ["", "Relative differences: largest absolute difference over the largest value (float32).", ""]
    lines += ["## Models", "", "| model | variant | precision | train img/s | step ms | train peak MiB | eval s "
             f"({args.tiles} tiles) | eval windows/s | latency ms (batch 1) | status |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(" | ".join(["", row["model"], _cell(row.get("variant")), _cell(row.get("precision")),
                                 _cell(row.get("train_img_s")), _cell(row.get("train_step_ms")),
                                 _cell(row.get("train_peak_mib"), 0), _cell(row.get("eval_s")),
                                 _cell(row.get("eval_windows_s")), _cell(row.get("latency_ms")),
                                 row.get("error", "ok").replace("|", "/")[:120], ""]).strip())
    lines += ["", f"Training: {args.steps} timed steps after {args.warmup} warm-up, batch {args.batch}, "
              f"{args.size}x{args.size}, each model's registered loss (first stage), channels_last, SGD; random "
              f"batches. Evaluation: `ms2mnet.engine.evaluate` over {args.tiles} random tiles of {height}x{width}, "
              f"window {args.window}, stride {args.stride}, batch {args.eval_batch}, no TTA. Latency: median of "
              f"{args.latency_runs} forwards (float16 autocast on CUDA)."]
    if comparison:
        c = comparison
        lines += ["", "## Evaluator against the authors' host-copy loop", "",
                  "| model | tile | stride | evaluator s | host-copy s | speed-up | same class |",
                  "|---|---|---|---|---|---|---|",
                  f"| {c['model']} | {c['tile_size'][0]}x{c['tile_size'][1]} | {c['stride']} | "
                  f"{c['evaluator_s']:.2f} | {c['host_copy_s']:.2f} | {c['speedup']:.2f}x | "
                  f"{100 * c['agreement']:.3f}% |", "",
                  "Same model, weights, windows and batches; 'same class': pixels whose predicted class agrees."]
    if estimate:
        e = estimate
        lines += ["", "## Estimated hours of the paper matrix on this device", "",
                  "| run | " + " | ".join(TEST_SETS) + " |", "|---|" + "---|" * len(TEST_SETS)]
        lines += [f"| {r['run']} | " + " | ".join(f"{r[d]:.2f}" for d in TEST_SETS) + " |" for r in e["runs"]]
        lines += ["", f"Hours per run and seed: {e['steps']} training steps of batch {e['batch']} (`paper` profile) "
                  "at the measured step time (measured at this script's --size and --batch), plus one evaluation of "
                  "each dataset's test tiles at the measured window rate (selection=test_best evaluates every "
                  "epoch: add 49 evaluations). MS2MNet's variants at MS2MNet full's cost. "
                  f"**Matrix: {e['total_hours']:.1f} device-hours** ({len(e['runs'])} runs x {e['seeds']} seeds x "
                  f"{len(TEST_SETS)} datasets)" + (f"; not measured: {', '.join(e['missing'])}" if e["missing"] else "")
                  + "."]
    return "\n".join(lines) + "\n"


def write(out: Path, env: dict, args: argparse.Namespace, rows: list[dict], comparison: dict | None,
          scan: list[dict] | None = None, estimate: dict | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_checks.md").write_text(markdown(env, args, rows, comparison, scan, estimate))
    (out / "gpu_checks.json").write_text(json.dumps({"environment": env, "scan": scan, "models": rows,
                                                     "evaluator_comparison": comparison, "matrix_estimate": estimate},
                                                    indent=2))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for module in args.modules:
        import_model_module(module)
    device = torch.device(args.device)
    env = environment(device)
    rows: list[dict] = []
    comparison = None
    scan: list[dict] = []
    try:
        scan = kernel_table(args.scan_sizes, args.scan_repeats, str(device)) if args.scan_sizes else []
    except Exception as err:   # the models' numbers must still come
        traceback.print_exc()
        print(f"scan check failed: {type(err).__name__}: {err}", flush=True)
    write(args.out, env, args, rows, comparison, scan)
    for index, name in enumerate(model_names(args.models)):
        rows.append(measure_model(name, args, device))
        print(f"{name}: {rows[-1].get('error', 'ok')}", flush=True)
        if index == 0 and args.compare_model:
            comparison = compare_evaluators(args.compare_model, args, device)
            print(f"evaluator vs host-copy: {comparison['speedup']:.2f}x", flush=True)
        write(args.out, env, args, rows, comparison, scan)
    estimate = matrix_estimate(rows, args.seeds, args.window)
    write(args.out, env, args, rows, comparison, scan, estimate)
    print((args.out / "gpu_checks.md").read_text())
    return 1 if any("error" in row for row in rows) or not scan else 0


if __name__ == "__main__":
    sys.exit(main())

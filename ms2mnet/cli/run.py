"""`ms2mnet run` (one configuration, Hydra overrides) and `ms2mnet predict` (a user's own tile)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="train and evaluate one configuration (the app behind ablations/run.py and baselines/run.py)",
        description="Hydra overrides as for ablations/run.py, e.g. `ms2mnet run variant=no_dfe dataset=vaihingen "
                    "profile=paper seed=1` or `ms2mnet run model=fusenet`; Hydra's own flags (-m, --cfg job, "
                    "hydra/launcher=slurm) work too.")
    run.add_argument("--run", metavar="NAME", help="a run name as params.yaml lists it (ms2mnet-no_dfe, fusenet): "
                                                   "sets model= and variant=")
    run.add_argument("--params", type=Path, help="every run and seed of the pipeline's params.yaml (dataset and "
                                                 "profile too), one after the other in this process, as the DVC "
                                                 "smoke stage does; it goes on after a refused run and exits 2")
    run.add_argument("--params-section", metavar="KEY", help="with --params: the runs, seeds and profile of this "
                                                             "section (e.g. smoke)")
    run.add_argument("overrides", nargs=argparse.REMAINDER, help="Hydra overrides (key=value) and flags")
    run.set_defaults(func=run_command)

    complexity = subparsers.add_parser(
        "complexity", help="GMACs, parameters, latency and memory of configured models -> complexity/<run>.json",
        description="Measures the model of each run (same overrides as `ms2mnet run`) with the profile's complexity "
                    "settings and writes runs/<dataset>/<profile>/complexity/<run>.json (once per run: it does not "
                    "depend on the seed). Several runs share one process, which saves its start-up (seconds).")
    complexity.add_argument("--run", metavar="NAME", action="append", default=[],
                            help="a run name as params.yaml lists it; repeat it for several")
    complexity.add_argument("--params", type=Path, help="measure every run of the pipeline's params.yaml (dataset "
                                                        "and profile too), as the DVC stage does")
    complexity.add_argument("--params-section", metavar="KEY", help="with --params: the runs and profile of this "
                                                                    "section (e.g. smoke)")
    complexity.add_argument("overrides", nargs="*", help="Hydra overrides (key=value)")
    complexity.set_defaults(func=complexity_command)

    evaluate = subparsers.add_parser(
        "evaluate", help="evaluate a trained seed again, e.g. with its DSM perturbed (eval.dsm=zero|noise:<sigma>|...)",
        description="Loads runs/<dataset>/<profile>/<run>/seed<k>/ (same overrides as `ms2mnet run`) and writes "
                    "robustness/<mode>.json there: eval.dsm=clean | zero | noise:<sigma> | shift:<pixels> | "
                    "stale:<tile>; eval.save_maps=true also writes the whole-tile predictions.")
    evaluate.add_argument("--run", metavar="NAME", help="a run name as params.yaml lists it")
    evaluate.add_argument("overrides", nargs="*", help="Hydra overrides (key=value), e.g. eval.dsm=noise:0.1 seed=1")
    evaluate.set_defaults(func=evaluate_command)

    predict = subparsers.add_parser("predict", help="colour label map of your own image + DSM with a trained run")
    predict.add_argument("--checkpoint", type=Path, required=True, help="runs/<dataset>/<profile>/<run>/seed<k>/checkpoint.pt")
    predict.add_argument("--image", type=Path, required=True, help="image TIFF in the dataset's band layout")
    predict.add_argument("--dsm", type=Path, required=True, help="DSM TIFF (Vaihingen layout) or nDSM JPEG (Potsdam)")
    predict.add_argument("--out", type=Path, required=True, help="output palette PNG of the whole tile (ISPRS colours)")
    predict.add_argument("--device", default="auto")
    predict.set_defaults(func=predict_command)


def run_overrides(run: str) -> list[str]:
    """`--run ms2mnet-no_dfe` -> ["model=ms2mnet", "variant=no_dfe"]; `--run fusenet` -> ["model=fusenet"]."""
    from ms2mnet.models.registry import NAME

    model, _, variant = run.partition("-")
    if not NAME.fullmatch(model) or (variant and not NAME.fullmatch(variant)):
        raise ValueError(f"--run {run}: expected <model> or <model>-<variant>, e.g. ms2mnet-no_dfe or fusenet")
    return [f"model={model}"] + ([f"variant={variant}"] if variant else [])


def run_command(args: argparse.Namespace) -> int:
    from ms2mnet.app import main

    if not args.params:
        if args.params_section:
            raise ValueError("--params-section needs --params")
        overrides = (run_overrides(args.run) if args.run else []) + args.overrides
        return main("config", overrides, verbose=args.verbose)   # 2 after a refusal's one line
    if args.run:
        raise ValueError("give --run or --params, not both")
    from ms2mnet.cli.report import from_params

    # One process for a whole pass: each run of a fresh process spends seconds importing torch and timm.
    dataset, profile, runs, seeds = from_params(args.params, args.params_section)
    refused = []
    for run in runs:
        for seed in seeds:
            overrides = run_overrides(run) + [f"dataset={dataset}", f"profile={profile}", f"seed={seed}"]
            if main("config", overrides + args.overrides, verbose=args.verbose):
                refused.append(f"{run} seed {seed}")
    if refused:
        print(f"error: {len(refused)} of {len(runs) * len(seeds)} runs refused: {', '.join(refused)}",
              file=sys.stderr)
    return 2 if refused else 0


def latency_note(latency: dict) -> str:
    """What a latency means: runs, warm-up, batch, precision, device, threads."""
    return (f"{latency['runs']} runs after {latency['warmup']} warm-up, batch {latency['batch']}, {latency['precision']}, "
            f"{latency['device_name']}, {latency['threads']} threads")


def complexity_command(args: argparse.Namespace) -> int:
    from ms2mnet.app import compose_config
    from ms2mnet.cli.report import from_params
    from ms2mnet.experiment import measure

    runs, overrides = args.run, list(args.overrides)
    if args.params:
        dataset, profile, runs, _ = from_params(args.params, args.params_section)
        overrides = [f"dataset={dataset}", f"profile={profile}"] + overrides
    for run in runs or [None]:
        record = measure(compose_config(*(run_overrides(run) if run else []), *overrides))
        print(f"{record['model']} {record['variant'] or ''}: {record['params']['total'] / 1e6:.2f} M parameters, "
              f"{record['gmacs']:.2f} {record['unit']}, {record['latency']['median_ms']:.0f} ms median latency "
              f"({latency_note(record['latency'])})")
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    from ms2mnet.app import compose_config
    from ms2mnet.reevaluate import evaluate_run

    metrics = evaluate_run(compose_config(*(run_overrides(args.run) if args.run else []), *args.overrides))
    print(f"{metrics['run']} seed {metrics['seed']}, DSM {metrics['dsm']}: OA {100 * metrics['oa']:.2f}, "
          f"mF1 {100 * metrics['mf1']:.2f}, mIoU {100 * metrics['miou']:.2f}")
    return 0


def predict_command(args: argparse.Namespace) -> int:
    from ms2mnet.data.prepare import read_inputs
    from ms2mnet.data.specs import get_spec
    from ms2mnet.engine.checkpoint import check_state_fits, load_checkpoint
    from ms2mnet.engine.distributed import resolve_device
    from ms2mnet.engine.evaluate import save_palette_png
    from ms2mnet.engine.inference import sliding_window_logits
    from ms2mnet.io import require_file, require_writable
    from ms2mnet.models import build_model

    require_file(args.image, "image TIFF")
    require_file(args.dsm, "DSM")
    require_writable(args.out)     # before the inference, not after it
    state = load_checkpoint(args.checkpoint, require=("model", "config"))
    cfg = state["config"] if isinstance(state["config"], dict) else {}
    if "model" not in cfg:
        raise ValueError(f"{args.checkpoint}: holds no run config; expected a checkpoint written by `ms2mnet run`")
    device = resolve_device(args.device)
    from ms2mnet.models import import_model_module

    import_model_module(cfg["model"].get("module"))
    model = build_model(cfg["model"]["name"], variant=cfg["variant"], num_classes=cfg["dataset"]["num_classes"],
                        **(cfg["model"].get("options") or {}))
    check_state_fits(state["model"], model, args.checkpoint)     # shapes, and no NaN weights
    model.load_state_dict(state["model"])
    model.to(device).eval()
    image, dsm = read_inputs(get_spec(cfg["dataset"]["name"]), args.image, args.dsm,
                             dsm_scaling=cfg["dataset"].get("dsm_scaling"))
    image_t = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / 255).to(device)
    dsm_t = torch.from_numpy(dsm.astype(np.float32))[None].to(device)
    ev = cfg["profile"]["eval"]
    logits = sliding_window_logits(model, image_t, dsm_t, cfg["dataset"]["num_classes"], window=ev["window"],
                                   stride=ev["stride"], batch_size=ev["batch_size"], tta=ev["tta"],
                                   amp=device.type == "cuda" and ev.get("amp", False),
                                   windows=ev.get("windows", "authors"), combine=ev.get("combine", "logits"))
    save_palette_png(logits.argmax(0).cpu().numpy(), args.out)    # the whole tile, ISPRS palette
    print(f"{args.out}: {image.shape[1]}x{image.shape[0]} label map from {args.checkpoint}")
    return 0

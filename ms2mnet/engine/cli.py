"""`ms2mnet run` (one configuration, Hydra overrides) and `ms2mnet predict` (a user's own tile)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="train, evaluate and measure one configuration",
                                description="Same overrides as ablations/run.py, e.g. "
                                            "`ms2mnet run variant=no_dfe dataset=vaihingen profile=paper seed=1`.")
    run.add_argument("overrides", nargs="*", help="Hydra overrides (key=value)")
    run.add_argument("--config-dir", type=Path, default=CONF_DIR, help=f"Hydra config folder (default {CONF_DIR})")
    run.set_defaults(func=run_command)

    predict = subparsers.add_parser("predict", help="colour label map of your own image + DSM with a trained run")
    predict.add_argument("--checkpoint", type=Path, required=True, help="runs/<dataset>/<run>/seed<k>/checkpoint.pt")
    predict.add_argument("--image", type=Path, required=True, help="image TIFF in the dataset's band layout")
    predict.add_argument("--dsm", type=Path, required=True, help="DSM TIFF (Vaihingen layout) or nDSM JPEG (Potsdam)")
    predict.add_argument("--out", type=Path, required=True, help="output PNG (ISPRS palette)")
    predict.add_argument("--device", default="auto")
    predict.set_defaults(func=predict_command)


def run_command(args: argparse.Namespace) -> int:
    from hydra import compose, initialize_config_dir

    from ms2mnet.experiment import run

    if not (args.config_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{args.config_dir}/config.yaml not found: pass --config-dir pointing at the "
                                "suite's conf/ folder")
    with initialize_config_dir(config_dir=str(args.config_dir.resolve()), version_base="1.3"):
        cfg = compose("config", overrides=args.overrides)
    run(cfg)
    return 0


def predict_command(args: argparse.Namespace) -> int:
    from ms2mnet.data.palette import class_to_colour
    from ms2mnet.data.prepare import read_inputs
    from ms2mnet.data.specs import get_spec
    from ms2mnet.engine.checkpoint import load_checkpoint
    from ms2mnet.engine.distributed import resolve_device
    from ms2mnet.engine.inference import sliding_window_logits
    from ms2mnet.models import build_model

    if not args.checkpoint.is_file():
        raise FileNotFoundError(f"{args.checkpoint}: no such checkpoint; runs write runs/<dataset>/<run>/seed<k>/checkpoint.pt")
    state = load_checkpoint(args.checkpoint)
    cfg = state.get("config") or {}
    if "model" not in cfg:
        raise ValueError(f"{args.checkpoint}: holds no run config; expected a checkpoint written by `ms2mnet run`")
    device = resolve_device(args.device)
    model = build_model(cfg["model"]["name"], variant=cfg["variant"]["name"], num_classes=cfg["dataset"]["num_classes"],
                        **(cfg["model"].get("options") or {}))
    model.load_state_dict(state["model"])
    model.to(device).eval()
    image, dsm = read_inputs(get_spec(cfg["dataset"]["name"]), args.image, args.dsm)
    image_t = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / 255).to(device)
    dsm_t = torch.from_numpy(dsm.astype(np.float32))[None].to(device)
    ev = cfg["profile"]["eval"]
    logits = sliding_window_logits(model, image_t, dsm_t, cfg["dataset"]["num_classes"], ev["window"], ev["stride"],
                                   ev["batch_size"], ev["tta"], amp=device.type == "cuda" and cfg.get("amp", False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(class_to_colour(logits.argmax(0).cpu().numpy().astype(np.uint8))).save(args.out)
    print(f"{args.out}: {image.shape[1]}x{image.shape[0]} label map from {args.checkpoint}")
    return 0

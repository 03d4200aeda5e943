"""What a run costs: training throughput and the sliding-window evaluation time of one tile set.

Training: the model's own loss (its registered preset, term and aux weights, as `ms2mnet run` builds it)
and the trainer's own step (`ms2mnet.engine.trainer.train_step`: AMP, channels_last, SGD as the `paper`
profile sets it) on random batches; a few warm-up steps, then timed steps, synchronised on CUDA.
Evaluation: the suite's evaluator (`ms2mnet.engine.evaluate.evaluate`) over synthetic tiles of the
protocol's size (Vaihingen: 4 test tiles of about 2494x2064, window 256, stride 32).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ms2mnet.engine.distributed import World
from ms2mnet.engine.evaluate import EvalSettings, evaluate
from ms2mnet.engine.inference import window_corners
from ms2mnet.engine.inference import autocast
from ms2mnet.engine.losses import DeepSupervisionLoss
from ms2mnet.engine.trainer import TrainSettings, make_train_state, train_step
from ms2mnet.models import build_model, for_layout, get_model, resolve_variant

from .latency import device_name

log = logging.getLogger(__name__)
PAPER_PROFILE = Path(__file__).resolve().parents[2] / "conf" / "profile" / "paper.yaml"
VAIHINGEN_TEST_TILE = (2494, 2064)   # mean size of the protocol's four Vaihingen test tiles (H, W)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_criterion(model: str, layout: str, num_classes: int) -> tuple[DeepSupervisionLoss, str]:
    """The registered loss of `model` for a dataset layout, and a note on what differs from a real run.

    Median-frequency class weights need the training labels; uniform weights cost the same."""
    entry = get_model(model)
    weights = dict(for_layout(entry.loss_weights, layout) or {})
    note = ""
    if weights.get("class_weights") == "median_frequency":
        weights["class_weights"] = [1.0] * num_classes
        note = "median-frequency class weights replaced by uniform ones (same cost)"
    return DeepSupervisionLoss(entry.loss, list(for_layout(entry.aux_weights, layout)), **weights), note


def random_batch(batch: int, size: int, num_classes: int, generator: torch.Generator) -> dict:
    """A training batch as the loader yields it (on the host): image, DSM in [0, 1], labels."""
    return {"image": torch.rand(batch, 3, size, size, generator=generator),
            "dsm": torch.rand(batch, 1, size, size, generator=generator),
            "label": torch.randint(0, num_classes, (batch, size, size), generator=generator)}


def training_throughput(model: torch.nn.Module, criterion: DeepSupervisionLoss, device: torch.device, *,
                        batch: int, size: int, num_classes: int, warmup: int, steps: int, amp: bool,
                        channels_last: bool, loss_epoch: int = 1) -> dict:
    """Images per second of full optimiser steps (host-to-device copy, forward, loss, backward, SGD)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    train = OmegaConf.to_container(OmegaConf.load(PAPER_PROFILE).train, resolve=True)
    settings = TrainSettings(**{**train, "batch_size": batch, "crop": size})
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    state = make_train_state(model, settings, device, amp)
    generator = torch.Generator().manual_seed(0)
    batches = [random_batch(batch, size, num_classes, generator) for _ in range(min(steps, 4))]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + steps):
        _synchronize(device)
        start = time.perf_counter()
        loss = train_step(model, batches[i % len(batches)], criterion, state, device, loss_epoch, amp=amp,
                          channels_last=channels_last, world=World())
        _synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    total = sum(times)
    return {"train_img_s": batch * steps / total, "train_step_ms": 1e3 * total / steps, "train_steps": steps,
            "train_warmup": warmup, "train_batch": batch, "train_size": size, "last_loss": loss,
            "train_peak_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None}


@dataclass
class SyntheticTiles:
    """Tiles shaped like the test split (image, DSM, eroded labels), random, made on demand on the host;
    the evaluator reads them like `WholeTiles`."""
    count: int
    height: int
    width: int
    num_classes: int = 6

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        generator = torch.Generator().manual_seed(index)
        shape = (self.height, self.width)
        return {"name": f"tile{index}", "image": torch.rand(3, *shape, generator=generator),
                "dsm": torch.rand(1, *shape, generator=generator),
                "label": torch.randint(0, self.num_classes, shape, generator=generator)}


def evaluation_time(model: torch.nn.Module, device: torch.device, *, tiles: int, tile_size: tuple[int, int],
                    window: int, stride: int, batch: int, amp: bool) -> dict:
    """Seconds the evaluator takes over `tiles` synthetic tiles (after one untimed warm-up batch)."""
    model.to(device).eval()
    tile_set = SyntheticTiles(tiles, *tile_size)
    with torch.no_grad(), autocast(device, amp):   # warm-up: kernels chosen before the clock starts
        model(torch.rand(batch, 3, window, window, device=device), torch.rand(batch, 1, window, window, device=device))
    _synchronize(device)
    start = time.perf_counter()
    evaluate(model, tile_set, device, EvalSettings(window, stride, batch, amp=amp))
    _synchronize(device)
    seconds = time.perf_counter() - start
    padded = (max(tile_size[0], window), max(tile_size[1], window))
    windows = tiles * len(window_corners(*padded, window, stride))   # the authors' windows, repeats included
    return {"eval_s": seconds, "eval_tiles": tiles, "eval_tile_size": list(tile_size), "eval_window": window,
            "eval_stride": stride, "eval_batch": batch, "eval_windows": windows,
            "eval_windows_s": windows / seconds}


def bench_train(model_name: str, variant: str | None = None, *, device: str = "cpu", layout: str = "vaihingen",
                num_classes: int = 6, size: int = 256, batch: int = 10, warmup: int = 3, steps: int = 10,
                amp: bool = True, channels_last: bool | None = None, loss_epoch: int = 1, evaluation: bool = True,
                tiles: int = 4, tile_size: tuple[int, int] = VAIHINGEN_TEST_TILE, window: int = 256,
                stride: int = 32, eval_batch: int = 16) -> dict:
    """Training throughput and evaluation time of one registered model, with the conditions they hold for.
    AMP (bf16 where supported) applies on CUDA only; on the CPU everything runs in float32.
    channels_last defaults to on for CUDA and off for the CPU (where it made MS2MNet's step 2.5x slower)."""
    dev = torch.device(device)
    variant = resolve_variant(model_name, variant)
    amp = amp and dev.type == "cuda"
    channels_last = dev.type == "cuda" if channels_last is None else channels_last
    torch.manual_seed(0)
    model = build_model(model_name, variant=variant, num_classes=num_classes, pretrained=False)
    criterion, note = model_criterion(model_name, layout, num_classes)
    precision = "float32"
    if amp:
        precision = "amp-bfloat16" if torch.cuda.is_bf16_supported() else "amp-float16"
    record = {"model": model_name, "variant": variant, "loss": get_model(model_name).loss, "layout": layout,
              "device": str(dev), "device_name": device_name(dev), "threads": torch.get_num_threads(),
              "precision": precision, "channels_last": channels_last, "loss_epoch": loss_epoch,
              "torch": torch.__version__, "note": note}
    record.update(training_throughput(model, criterion, dev, batch=batch, size=size, num_classes=num_classes,
                                      warmup=warmup, steps=steps, amp=amp, channels_last=channels_last,
                                      loss_epoch=loss_epoch))
    if evaluation:
        record.update(evaluation_time(model, dev, tiles=tiles, tile_size=tile_size, window=window, stride=stride,
                                      batch=eval_batch, amp=amp))
    log.info("%s %s: %.2f img/s training%s", model_name, variant or "", record["train_img_s"],
             f", evaluation {record['eval_s']:.1f} s" if evaluation else "")
    return record

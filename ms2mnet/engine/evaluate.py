"""Evaluation over whole test tiles: sliding-window logits -> one confusion matrix -> metrics.

The confusion matrix accumulates all pixels of all tiles (not a mean of per-tile scores), on the
device, ignoring undefined pixels of the eroded ground truth (docs/protocol.md). `tile_results`
yields each tile's prediction and confusion matrix; `evaluate` keeps each tile's matrix too
(`per_tile_confusion` in the metrics; the total is their sum), for the report's per-tile table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from tqdm import tqdm

from ms2mnet.data.palette import CLASSES, PALETTE
from ms2mnet.data.sampling import WholeTiles

from .inference import precision_name, sliding_window_logits
from .metrics import ConfusionMatrix, segmentation_metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSettings:
    """How tiles are evaluated. The defaults are the authors' `test()`: every clamped window start
    (repeats kept), raw logits summed, fp32."""
    window: int
    stride: int
    batch_size: int
    tta: bool = False
    amp: bool = False
    windows: str = "authors"     # authors | unique
    combine: str = "logits"      # logits | softmax

    def record(self, device: torch.device) -> dict:
        """What metrics.json says about the evaluation."""
        out = {f"eval_{k}": v for k, v in asdict(self).items() if k not in ("batch_size", "amp")}
        out["eval_precision"] = precision_name(device, self.amp)
        return out


@dataclass
class TileResult:
    name: str
    prediction: Tensor       # (H, W) class indices, on the device
    confusion: Tensor        # (K, K) int64, rows truth, columns prediction


def save_palette_png(labels: np.ndarray, path: Path) -> None:
    """A class-index map as a palette PNG in the ISPRS colours (ignore = black)."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(PALETTE)] = PALETTE
    image.putpalette(palette.ravel().tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def centre_box(height: int, width: int, side: int) -> tuple[slice, slice]:
    top, left = max((height - side) // 2, 0), max((width - side) // 2, 0)
    return slice(top, top + side), slice(left, left + side)


@torch.no_grad()
def tile_results(model: nn.Module, tiles: WholeTiles, device: torch.device, settings: EvalSettings) -> Iterator[TileResult]:
    """Each tile's prediction and confusion matrix, in tile order (the model is put in eval mode)."""
    model.eval()
    num_classes = len(CLASSES)
    for index in tqdm(range(len(tiles)), desc="evaluate", unit="tile", leave=False):
        sample = tiles[index]
        image, dsm, label = (sample[k].to(device, non_blocking=True) for k in ("image", "dsm", "label"))
        logits = sliding_window_logits(model, image, dsm, num_classes, window=settings.window,
                                       stride=settings.stride, batch_size=settings.batch_size, tta=settings.tta,
                                       amp=settings.amp, windows=settings.windows, combine=settings.combine)
        prediction = logits.argmax(0)
        confusion = ConfusionMatrix(num_classes, device)
        confusion.update(prediction, label)
        yield TileResult(sample["name"], prediction, confusion.matrix)


def evaluate(model: nn.Module, tiles: WholeTiles, device: torch.device, settings: EvalSettings, *,
             figure_dir: Path | None = None, figure_crop: int = 512, map_dir: Path | None = None) -> dict:
    """Metrics of `model` on `tiles` (one confusion matrix over all their pixels, and one per tile) and the
    evaluation settings; with `figure_dir`, the prediction of a centre crop of each tile as PNG; with
    `map_dir`, the prediction of each whole tile as a palette PNG (`eval.save_maps`)."""
    total = torch.zeros(len(CLASSES), len(CLASSES), dtype=torch.int64, device=device)
    per_tile: dict[str, list] = {}
    for result in tile_results(model, tiles, device, settings):
        total += result.confusion
        per_tile[str(result.name)] = result.confusion.cpu().tolist()
        if map_dir is not None:
            save_palette_png(result.prediction.cpu().numpy(), Path(map_dir) / f"{result.name}.png")
        if figure_dir is not None:
            box = centre_box(*result.prediction.shape, figure_crop)
            save_palette_png(result.prediction[box].cpu().numpy(), Path(figure_dir) / f"{result.name}.png")
    metrics = segmentation_metrics(total, list(CLASSES))
    metrics["per_tile_confusion"] = per_tile
    metrics.update(settings.record(device))
    log.info("OA %.4f  mF1 %.4f  mIoU %.4f  (%d tiles)", metrics["oa"], metrics["mf1"], metrics["miou"], len(tiles))
    return metrics

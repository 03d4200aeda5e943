"""Evaluation over whole test tiles: sliding-window logits -> one confusion matrix -> metrics.

The confusion matrix accumulates all pixels of all tiles (not a mean of per-tile scores), on the
device, ignoring undefined pixels of the eroded ground truth (docs/protocol.md). Each tile's own matrix is
kept too (`per_tile_confusion` in the metrics; the total is their sum), for the report's per-tile table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from ms2mnet.data.palette import CLASSES, PALETTE
from ms2mnet.data.sampling import WholeTiles

from .inference import sliding_window_logits
from .metrics import ConfusionMatrix, segmentation_metrics

log = logging.getLogger(__name__)


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


def evaluate(model: nn.Module, tiles: WholeTiles, device: torch.device, *, window: int, stride: int,
             batch_size: int, tta: bool = False, amp: bool = False, figure_dir: Path | None = None,
             figure_crop: int = 512, map_dir: Path | None = None) -> dict:
    """Metrics of `model` on `tiles`; with `figure_dir`, the prediction of a centre crop of each tile as PNG;
    with `map_dir`, the prediction of each whole tile as a palette PNG (`eval.save_maps`)."""
    model.eval()
    num_classes = len(CLASSES)
    confusion = ConfusionMatrix(num_classes, device)
    per_tile: dict[str, list] = {}
    for index in tqdm(range(len(tiles)), desc="evaluate", unit="tile", leave=False):
        sample = tiles[index]
        image, dsm, label = (sample[k].to(device, non_blocking=True) for k in ("image", "dsm", "label"))
        logits = sliding_window_logits(model, image, dsm, num_classes, window=window, stride=stride,
                                       batch_size=batch_size, tta=tta, amp=amp)
        prediction = logits.argmax(0)
        tile = ConfusionMatrix(num_classes, device)
        tile.update(prediction, label)
        confusion.matrix += tile.matrix
        per_tile[str(sample["name"])] = tile.matrix.cpu().tolist()
        if map_dir is not None:
            save_palette_png(prediction.cpu().numpy(), Path(map_dir) / f"{sample['name']}.png")
        if figure_dir is not None:
            box = centre_box(*prediction.shape, figure_crop)
            save_palette_png(prediction[box].cpu().numpy(), Path(figure_dir) / f"{sample['name']}.png")
    metrics = segmentation_metrics(confusion.matrix, list(CLASSES))
    metrics["per_tile_confusion"] = per_tile
    log.info("OA %.4f  mF1 %.4f  mIoU %.4f  (%d tiles)", metrics["oa"], metrics["mf1"], metrics["miou"], len(tiles))
    return metrics

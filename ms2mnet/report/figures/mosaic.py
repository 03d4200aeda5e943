"""Qualitative mosaic: for the first test tiles, the image, the DSM, the eroded ground truth and the
predictions of a few runs, all over the centre crop that evaluation saved as predictions/<tile>.png.

The crop: evaluation keeps rows (H - h) // 2 ... and columns (W - w) // 2 ... of an HxW tile for a saved
h x w prediction (ms2mnet.engine.evaluate.centre_box), so the PNG's size alone fixes the box.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch
from PIL import Image

from ms2mnet.data.palette import CLASSES, PALETTE, class_to_colour
from ms2mnet.data.store import TileStore

from .canvas import figure, save

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    label: str          # column title, e.g. "ms2mnet-full, seed 0"
    path: Path          # predictions/<tile>.png


def read_prediction(path: Path) -> np.ndarray:
    """HxWx3 colours of a saved prediction (palette PNG of class indices, or already RGB)."""
    with Image.open(path) as image:
        if image.mode == "P":
            return class_to_colour(np.asarray(image, dtype=np.uint8))
        return np.asarray(image.convert("RGB"))


def crop_box(height: int, width: int, crop_height: int, crop_width: int) -> tuple[slice, slice]:
    if crop_height > height or crop_width > width:
        raise ValueError(f"a {crop_height}x{crop_width} prediction cannot come from a {height}x{width} tile")
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return slice(top, top + crop_height), slice(left, left + crop_width)


def tile_panels(store: TileStore, tile: str, predictions: list[Prediction]) -> list[tuple[str, np.ndarray, dict]]:
    """(title, array, imshow options) for one mosaic row; predictions that do not fit the tile are dropped."""
    data = store.tile(tile)
    height, width = data.label_eroded.shape
    colours = [(p.label, read_prediction(p.path)) for p in predictions]
    crop_shape = colours[0][1].shape[:2]
    box = crop_box(height, width, *crop_shape)
    panels = [("image (bands 1-3 as RGB)", np.asarray(data.image[box]), {}),
              ("DSM", np.asarray(data.dsm[box], dtype=np.float32), {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}),
              ("ground truth (eroded)", class_to_colour(np.asarray(data.label_eroded[box])), {})]
    for label, rgb in colours:
        if rgb.shape[:2] != crop_shape:
            log.warning("%s: prediction of %s is %s, expected %s like the others; left out of the mosaic",
                        tile, label, rgb.shape[:2], crop_shape)
            continue
        panels.append((label, rgb, {}))
    return panels


def plot_mosaic(store: TileStore, rows: dict[str, list[Prediction]], title: str, path: Path) -> Path | None:
    """`rows`: tile name -> the predictions to show for it (the same runs for every tile)."""
    rows = {tile: preds for tile, preds in rows.items() if preds}
    if not rows:
        log.info("no saved predictions: qualitative mosaic skipped")
        return None
    panels = {tile: tile_panels(store, tile, preds) for tile, preds in rows.items()}
    ncols = max(len(p) for p in panels.values())
    with figure(2.3 * ncols, 2.3 * len(panels) + 0.9, nrows=len(panels), ncols=ncols) as (fig, axes):
        for r, (tile, row) in enumerate(panels.items()):
            for c in range(ncols):
                ax = axes[r, c]
                ax.axis("off")
                if c < len(row):
                    name, array, options = row[c]
                    ax.imshow(array, interpolation="nearest", **options)
                    ax.set_title(f"{tile}: {name}" if c == 0 else name, fontsize=8)
        legend = [Patch(facecolor=np.asarray(colour) / 255, edgecolor="0.4", label=name.replace("_", " "))
                  for name, colour in zip(CLASSES, PALETTE)]
        legend.append(Patch(facecolor="black", edgecolor="0.4", label="ignore / undefined"))
        fig.legend(handles=legend, loc="outside lower center", ncols=len(legend), fontsize=8, frameon=False)
        fig.suptitle(title, fontsize=10)
        return save(fig, path)

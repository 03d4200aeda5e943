"""Qualitative mosaic (the paper's visual comparison): for test tiles whose crops show buildings, trees
and cars, the image, the DSM, the eroded ground truth and the predictions of the chosen runs,
all over the centre crop that evaluation saved as predictions/<tile>.png.

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


ERROR_COLOUR = np.array([255, 0, 255], dtype=np.float32)   # magenta: in no class's colour
SHOWN_CLASSES = ("building", "tree", "car")                 # what a chosen crop should hold


def dsm_limits(dsm: np.ndarray) -> dict:
    """Grey scale stretched over the crop's 1st-99th percentile heights, so relief shows despite outliers."""
    low, high = (float(v) for v in np.percentile(dsm, (1, 99)))
    return {"cmap": "gray", "vmin": low, "vmax": high if high > low else low + 1e-3}


def with_errors(rgb: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The prediction's colours with wrong pixels (where the ground truth is defined) tinted magenta."""
    wrong = (rgb != truth).any(axis=2) & ~(truth == 0).all(axis=2)
    out = rgb.astype(np.float32)
    out[wrong] = 0.35 * out[wrong] + 0.65 * ERROR_COLOUR
    return out.astype(np.uint8)


def crop_score(store: TileStore, tile: str, crop_shape: tuple[int, int]) -> int:
    """How well a tile's saved crop shows buildings, trees and cars: the pixels of the rarest of them."""
    labels = store.tile(tile).label_eroded
    box = crop_box(*labels.shape, *crop_shape)
    counts = np.bincount(np.asarray(labels[box]).ravel(), minlength=len(CLASSES))
    return int(min(counts[CLASSES.index(name)] for name in SHOWN_CLASSES))


def choose_tiles(store: TileStore, rows: dict[str, list[Prediction]], count: int) -> dict[str, list[Prediction]]:
    """The `count` tiles whose crops best show buildings, trees and cars (same crops for every run)."""
    shapes = {tile: read_prediction(preds[0].path).shape[:2] for tile, preds in rows.items() if preds}
    ranked = sorted(shapes, key=lambda tile: -crop_score(store, tile, shapes[tile]))
    return {tile: rows[tile] for tile in ranked[:count]}


def tile_panels(store: TileStore, tile: str, predictions: list[Prediction],
                errors: bool = False) -> list[tuple[str, np.ndarray, dict]]:
    """(title, array, imshow options) for one mosaic row; predictions that do not fit the tile are dropped.
    `errors`: tint each prediction's wrong pixels."""
    data = store.tile(tile)
    height, width = data.label_eroded.shape
    colours = [(p.label, read_prediction(p.path)) for p in predictions]
    crop_shape = colours[0][1].shape[:2]
    box = crop_box(height, width, *crop_shape)
    dsm = np.asarray(data.dsm[box], dtype=np.float32)
    truth = class_to_colour(np.asarray(data.label_eroded[box]))
    panels = [("image (bands 1-3 as RGB)", np.asarray(data.image[box]), {}),
              ("DSM (stretched per crop)", dsm, dsm_limits(dsm)),
              ("ground truth (eroded)", truth, {})]
    for label, rgb in colours:
        if rgb.shape[:2] != crop_shape:
            log.warning("%s: prediction of %s is %s, expected %s like the others; left out of the mosaic",
                        tile, label, rgb.shape[:2], crop_shape)
            continue
        panels.append((label, with_errors(rgb, truth) if errors else rgb, {}))
    return panels


def plot_mosaic(store: TileStore, rows: dict[str, list[Prediction]], title: str, path: Path,
                errors: bool = False) -> Path | None:
    """`rows`: tile name -> the predictions to show for it (the same runs for every tile)."""
    rows = {tile: preds for tile, preds in rows.items() if preds}
    if not rows:
        log.info("no saved predictions: qualitative mosaic skipped")
        return None
    panels = {tile: tile_panels(store, tile, preds, errors) for tile, preds in rows.items()}
    ncols = max(len(p) for p in panels.values())
    with figure(2.1 * ncols, 2.2 * len(panels) + 1.0, nrows=len(panels), ncols=ncols) as (fig, axes):
        for r, (tile, row) in enumerate(panels.items()):
            for c in range(ncols):
                ax = axes[r, c]
                ax.axis("off")
                if c < len(row):
                    name, array, options = row[c]
                    ax.imshow(array, interpolation="nearest", **options)
                    ax.set_title(f"{tile}: {name}" if c == 0 else name, fontsize=7.5)
        legend = [Patch(facecolor=np.asarray(colour) / 255, edgecolor="0.4", label=name.replace("_", " "))
                  for name, colour in zip(CLASSES, PALETTE)]
        legend.append(Patch(facecolor="black", edgecolor="0.4", label="ignore / undefined"))
        if errors:
            legend.append(Patch(facecolor=ERROR_COLOUR / 255, edgecolor="0.4", label="wrong (tinted)"))
        fig.legend(handles=legend, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
        fig.suptitle(title, fontsize=10)
        return save(fig, path)

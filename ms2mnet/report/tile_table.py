"""Per-tile evidence: mIoU of every run on every test tile, from the per-tile confusion matrices of
metrics.json (`per_tile_confusion`), with the tiles where a run collapses flagged.

A tile is flagged when the run's mIoU there (mean over seeds) is more than 2 standard deviations below
the run's mean over its *other* tiles. Leaving the tile out matters: against a mean that includes the tile,
its z-score cannot fall below −(n−1)/√n, which is −1.5 for Vaihingen's four test tiles, so a plain "2 SD
below the mean" could never fire there.
"""

from __future__ import annotations

import math
import statistics

import torch

from ms2mnet.data.palette import CLASSES
from ms2mnet.engine.metrics import segmentation_metrics

from . import cells
from .collect import RunResults
from .reference import model_label, titled
from .table import Table

FLAG_SD = 2.0
FLAG = " ▼"


def tile_miou(matrix: list[list[int]]) -> float | None:
    """mIoU in percent of one tile's confusion matrix (the protocol's five classes; NaN classes skipped)."""
    value = segmentation_metrics(torch.tensor(matrix, dtype=torch.int64), list(CLASSES))["miou"]
    return None if math.isnan(value) else 100.0 * value


def per_tile(run: RunResults) -> dict[str, list[float]]:
    """Tile -> the run's mIoU on it, one value per seed that recorded per-tile matrices."""
    out: dict[str, list[float]] = {}
    for seed in run.ok_seeds:
        for tile, matrix in (seed.metrics.get("per_tile_confusion") or {}).items():
            value = tile_miou(matrix)
            if value is not None:
                out.setdefault(tile, []).append(value)
    return out


def flagged(means: dict[str, float], sd: float = FLAG_SD) -> set[str]:
    """Tiles more than `sd` standard deviations below the mean of the run's other tiles (needs 3 others)."""
    low = set()
    for tile, value in means.items():
        others = [v for t, v in means.items() if t != tile]
        if len(others) >= 3 and value < statistics.fmean(others) - sd * statistics.stdev(others):
            low.add(tile)
    return low


def tile_table(runs: list[RunResults], dataset: str) -> Table:
    values = {run.name: per_tile(run) for run in runs}
    tiles = sorted({t for v in values.values() for t in v})
    rows, data = [], []
    for run in runs:
        means = {t: statistics.fmean(v) for t, v in values[run.name].items()}
        if not means:
            continue
        low = flagged(means)
        rows.append([run.name, model_label(run.model, run.variant),
                     *(cells.MISSING if t not in means else f"{means[t]:.2f}{FLAG if t in low else ''}"
                       for t in tiles), ", ".join(sorted(low)) or "none"])
        data.append({"dataset": dataset, "run": run.name, **{f"{t}_miou": means.get(t) for t in tiles},
                     **{f"{t}_seeds": len(values[run.name].get(t, [])) for t in tiles}, "flagged": sorted(low)})
    caption = ("mIoU (%) of each run on each test tile, from that tile's own confusion matrix, mean over the seeds "
               f"that recorded per-tile matrices.{FLAG}: more than {FLAG_SD:g} standard deviations below the run's "
               "mean over its other tiles (needs four tiles or more). Runs whose metrics.json predates per-tile "
               "matrices are left out.")
    return Table("per_tile", titled("Per-tile mIoU", dataset), caption, ["run", "model", *tiles, "flagged"], rows,
                 data)

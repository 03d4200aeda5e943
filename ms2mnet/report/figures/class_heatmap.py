"""Per-class IoU of every run as a heatmap; a missing run is an empty row marked "missing"."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from .canvas import figure, save

log = logging.getLogger(__name__)


def plot_class_heatmap(rows: list[dict], classes: list[str], title: str, path: Path) -> Path | None:
    """`rows`: the per-class IoU table's records (run, <class>_mean)."""
    frame = pd.DataFrame([[r[f"{c}_mean"] for c in classes] for r in rows], index=[r["run"] for r in rows],
                         columns=[c.replace("_", " ") for c in classes], dtype=float)
    if frame.isna().all().all():
        log.info("no run has per-class metrics: heatmap skipped")
        return None
    with figure(1.6 + 1.1 * len(classes), max(3.2, 1.4 + 0.45 * len(frame))) as (fig, axes):
        ax = axes[0, 0]
        sns.heatmap(frame, annot=True, fmt=".1f", vmin=0, vmax=100, cmap="viridis", ax=ax, linewidths=0.5,
                    cbar_kws={"label": "IoU (%), mean over seeds"})
        for (i, j), value in np.ndenumerate(frame.to_numpy()):
            if np.isnan(value):
                ax.text(j + 0.5, i + 0.5, "missing", ha="center", va="center", fontsize=8, color="firebrick")
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=20)
        ax.tick_params(axis="y", rotation=0)
        fig.suptitle(title, fontsize=10)
        return save(fig, path)

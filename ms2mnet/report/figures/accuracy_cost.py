"""mIoU against GMACs, one marker per run, its area proportional to the parameter count, error bars the 95% CI."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from .canvas import figure, save

log = logging.getLogger(__name__)
LARGEST_MARKER = 500.0    # points^2, for the run with the most parameters


def _legend_values(largest: float) -> list[float]:
    """Two or three round parameter counts (M) up to the largest, for the size legend."""
    step = 10 ** np.floor(np.log10(largest))
    top = np.floor(largest / step) * step
    return sorted({float(v) for v in (top, top / 2, top / 4) if v > 0})


def plot_accuracy_cost(rows: list[dict], title: str, path: Path) -> Path | None:
    """`rows`: the main table's records (run, gmacs, params_m, miou_mean, miou_ci95)."""
    frame = pd.DataFrame(rows)
    drawn = frame.dropna(subset=["gmacs", "params_m", "miou_mean"]).sort_values(["gmacs", "miou_mean"])
    left_out = sorted(set(frame["run"]) - set(drawn["run"]))
    if drawn.empty:
        log.info("no run has both mIoU and GMACs: accuracy-cost figure skipped")
        return None
    largest = float(drawn["params_m"].max())
    area = LARGEST_MARKER / largest      # marker area per million parameters
    colours = sns.color_palette("deep", len(drawn))
    with figure(7.5, 5.0) as (fig, axes):
        ax = axes[0, 0]
        ax.errorbar(drawn["gmacs"], drawn["miou_mean"], yerr=drawn["miou_ci95"].fillna(0.0).to_numpy(),
                    fmt="none", ecolor="0.3", capsize=3, zorder=1)
        # Labels name the runs (no colour legend); neighbours alternate above and below their markers.
        for i, ((_, row), colour) in enumerate(zip(drawn.iterrows(), colours)):
            ax.scatter(row["gmacs"], row["miou_mean"], s=area * row["params_m"], color=colour, alpha=0.85,
                       edgecolors="black", zorder=2)
            ax.annotate(row["run"], (row["gmacs"], row["miou_mean"]), textcoords="offset points",
                        xytext=(12, 8 if i % 2 == 0 else -14), fontsize=8)
        handles = [ax.scatter([], [], s=area * v, color="0.4", edgecolors="black", label=f"{v:g}")
                   for v in _legend_values(largest)]
        ax.legend(handles=handles, title="params (M)", loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8,
                  title_fontsize=8, frameon=False, labelspacing=1.5, borderpad=1.0)
        ax.set_xlabel("GMACs (fvcore, multiply-adds)")
        ax.set_ylabel("mIoU (%), mean ± 95% CI over seeds")
        ax.margins(x=0.2, y=0.2)
        fig.suptitle(title, fontsize=10)
        if left_out:
            ax.text(0.0, -0.14, "missing: " + ", ".join(left_out), transform=ax.transAxes, fontsize=8,
                    color="firebrick", va="top")
        return save(fig, path)

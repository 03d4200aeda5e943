"""mIoU against GMACs, one marker per run, its area proportional to the parameter count, error bars the 95% CI.

Readable by construction: GMACs on a log axis (the models span 30x), the largest markers drawn first so
small ones stay on top, labels moved apart by adjustText, and both axes limited to the data and its
intervals, which are clipped to [0, 100] (an interval past 100 % says the seeds are few, not the model).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from adjustText import adjust_text
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from .canvas import figure, save

log = logging.getLogger(__name__)
LARGEST_MARKER = 500.0    # points^2, for the run with the most parameters
SMALLEST_MARKER = 40.0    # so that a small model's marker stays visible


def _legend_values(largest: float) -> list[float]:
    """Two or three round parameter counts (M) up to the largest, for the size legend."""
    step = 10 ** np.floor(np.log10(largest))
    top = np.floor(largest / step) * step
    return sorted({float(v) for v in (top, top / 2, top / 4) if v > 0})


def clipped_interval(mean: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """Error-bar lengths (2 x n: below, above) of mean ± half_width clipped to [0, 100]."""
    half_width = np.nan_to_num(half_width, nan=0.0)
    low, high = np.clip(mean - half_width, 0, 100), np.clip(mean + half_width, 0, 100)
    return np.vstack([mean - low, high - mean])


def plot_accuracy_cost(rows: list[dict], title: str, path: Path) -> Path | None:
    """`rows`: the main table's records (run, gmacs, params_m, miou_mean, miou_ci95)."""
    frame = pd.DataFrame(rows)
    drawn = frame.dropna(subset=["gmacs", "params_m", "miou_mean"]).sort_values("params_m", ascending=False)
    left_out = sorted(set(frame["run"]) - set(drawn["run"]))
    if drawn.empty:
        log.info("no run has both mIoU and GMACs: accuracy-cost figure skipped")
        return None
    largest = float(drawn["params_m"].max())
    area = LARGEST_MARKER / largest      # marker area per million parameters
    sizes = np.maximum(area * drawn["params_m"].to_numpy(float), SMALLEST_MARKER)
    x, y = drawn["gmacs"].to_numpy(float), drawn["miou_mean"].to_numpy(float)
    yerr = clipped_interval(y, drawn["miou_ci95"].to_numpy(float))
    colours = sns.color_palette("tab10" if len(drawn) <= 10 else "tab20", len(drawn))
    with figure(8.0, 5.5) as (fig, axes):
        ax = axes[0, 0]
        ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor="0.35", capsize=3, zorder=1)
        markers = ax.scatter(x, y, s=sizes, c=colours, alpha=0.9, edgecolors="black", linewidths=0.8, zorder=2)
        ax.set_xscale("log")
        low, high = float((y - yerr[0]).min()), float((y + yerr[1]).max())
        pad = max(2.0, 0.08 * (high - low))
        ax.set_ylim(max(0.0, low - pad), min(100.0, high + pad))
        ax.set_xlim(x.min() / 1.6, x.max() * 1.6)
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        # Labels start right of their markers; adjustText then moves them off every marker and each other.
        texts = [ax.text(gx * 1.12, my, run, fontsize=8, va="center", zorder=3)
                 for gx, my, run in zip(x, y, drawn["run"])]
        adjust_text(texts, objects=markers, ax=ax, expand=(1.15, 1.4),
                    arrowprops=dict(arrowstyle="-", color="0.5", linewidth=0.6))
        handles = [ax.scatter([], [], s=max(area * v, SMALLEST_MARKER), color="0.6", edgecolors="black",
                              label=f"{v:g}") for v in _legend_values(largest)]
        ax.legend(handles=handles, title="params (M)", loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8,
                  title_fontsize=8, frameon=False, labelspacing=1.5, borderpad=1.0)
        ax.set_xlabel("GMACs per forward (fvcore, multiply-adds; log scale)")
        ax.set_ylabel("mIoU (%), mean ± 95% CI over seeds")
        fig.suptitle(title, fontsize=10)
        if left_out:
            ax.text(0.0, -0.14, "missing: " + ", ".join(left_out), transform=ax.transAxes, fontsize=8,
                    color="firebrick", va="top")
        return save(fig, path)

"""Each variant's change against `full` (mIoU, mF1, OA) with its 95% CI as error bars."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import seaborn as sns

from .canvas import figure, save

log = logging.getLogger(__name__)
METRICS = (("miou", "mIoU"), ("mf1", "mF1"), ("oa", "OA"))


def plot_ablation_deltas(rows: list[dict], title: str, path: Path) -> Path | None:
    """`rows`: the ablation table's records (variant, delta_<m>_mean, delta_<m>_ci95, delta_<m>_significant)."""
    drawn = [r for r in rows if r["delta_miou_mean"] is not None]
    left_out = [r["variant"] for r in rows if r["delta_miou_mean"] is None]
    if not drawn:
        log.info("no variant has a seed paired with full: ablation figure skipped")
        return None
    colours = sns.color_palette("deep", len(METRICS))
    offsets = np.linspace(-0.25, 0.25, len(METRICS))
    with figure(7.5, 1.2 + 0.55 * len(drawn) * len(METRICS) / 2) as (fig, axes):
        ax = axes[0, 0]
        y = np.arange(len(drawn))
        for (metric, label), colour, offset in zip(METRICS, colours, offsets):
            means = np.array([r[f"delta_{metric}_mean"] for r in drawn], dtype=float)
            errors = np.array([r[f"delta_{metric}_ci95"] or 0.0 for r in drawn], dtype=float)
            ax.errorbar(means, y + offset, xerr=errors, fmt="o", color=colour, capsize=3, label=label)
            for mean, yy, r in zip(means, y + offset, drawn):
                if r[f"delta_{metric}_significant"]:
                    ax.annotate("*", (mean, yy), textcoords="offset points", xytext=(0, 2), ha="center",
                                color=colour, fontsize=12)
        ax.axvline(0.0, color="0.3", linewidth=1)
        ax.set_yticks(y, [r["variant"] for r in drawn])
        ax.invert_yaxis()
        ax.set_xlabel("Δ vs full (percentage points), mean ± 95% CI over paired seeds; * p < 0.05 (paired t-test)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        singles = [r["variant"] for r in drawn if r["pairs"] < 2]
        notes = ([f"one pair, no interval: {', '.join(singles)}"] if singles else []) + \
                ([f"missing: {', '.join(left_out)}"] if left_out else [])
        if notes:
            ax.set_title("; ".join(notes), fontsize=8, color="firebrick", loc="left")
        fig.suptitle(title, fontsize=10)
        return save(fig, path)

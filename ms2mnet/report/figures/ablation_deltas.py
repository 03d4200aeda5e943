"""Each variant's change against `full` (mIoU, mF1, OA) with its 95% CI as error bars.

The x-range comes from the intervals (and 0), so a small effect is not lost on a wide axis; a star marks
exactly the differences the ablation table calls significant (its `delta_<m>_significant`), and the
caption states the rule.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import seaborn as sns

from ..stats import MIN_PAIRS_FOR_VERDICT
from .canvas import figure, save

log = logging.getLogger(__name__)
METRICS = (("miou", "mIoU"), ("mf1", "mF1"), ("oa", "OA"))
RULE = (f"* significant: two-sided paired t-test over seeds, p < 0.05, n ≥ {MIN_PAIRS_FOR_VERDICT} paired seeds "
        "(uncorrected; no mark with fewer pairs).\nBars: 95% t-interval of the mean difference.")


def x_range(means: np.ndarray, errors: np.ndarray) -> tuple[float, float]:
    """Limits covering 0 and every mean ± its interval, with a margin."""
    low = float(np.nanmin(np.append(means - errors, 0.0)))
    high = float(np.nanmax(np.append(means + errors, 0.0)))
    pad = max(0.5, 0.08 * (high - low))
    return low - pad, high + pad


def significance_marks(rows: list[dict]) -> set[tuple[str, str]]:
    """(variant, metric) pairs that get a star: exactly those the table calls significant."""
    return {(r["variant"], m) for r in rows for m, _ in METRICS if r.get(f"delta_{m}_significant") is True}


def plot_ablation_deltas(rows: list[dict], title: str, path: Path) -> Path | None:
    """`rows`: the ablation table's records (variant, delta_<m>_mean, delta_<m>_ci95, delta_<m>_significant)."""
    drawn = [r for r in rows if r["delta_miou_mean"] is not None]
    left_out = [r["variant"] for r in rows if r["delta_miou_mean"] is None]
    if not drawn:
        log.info("no variant has a seed paired with full: ablation figure skipped")
        return None
    colours = sns.color_palette("deep", len(METRICS))
    offsets = np.linspace(-0.25, 0.25, len(METRICS))
    y = np.arange(len(drawn))
    starred = significance_marks(drawn)
    means = {m: np.array([r[f"delta_{m}_mean"] for r in drawn], dtype=float) for m, _ in METRICS}
    errors = {m: np.array([r[f"delta_{m}_ci95"] or 0.0 for r in drawn], dtype=float) for m, _ in METRICS}
    with figure(7.5, 1.9 + 0.5 * len(drawn) * len(METRICS) / 2) as (fig, axes):
        ax = axes[0, 0]
        low, high = x_range(np.concatenate(list(means.values())), np.concatenate(list(errors.values())))
        for (metric, label), colour, offset in zip(METRICS, colours, offsets):
            ax.errorbar(means[metric], y + offset, xerr=errors[metric], fmt="o", color=colour, capsize=3,
                        label=label)
            for mean, error, yy, r in zip(means[metric], errors[metric], y + offset, drawn):
                if (r["variant"], metric) in starred:
                    ax.annotate("*", (min(mean + error, high), yy), textcoords="offset points", xytext=(4, -4),
                                ha="left", color=colour, fontsize=13, fontweight="bold")
        ax.axvline(0.0, color="0.3", linewidth=1)
        ax.set_xlim(low, high)
        ax.set_yticks(y, [r["variant"] for r in drawn])
        ax.invert_yaxis()
        ax.set_xlabel("Δ against full (percentage points), mean over paired seeds\n" + RULE, fontsize=8)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        singles = [r["variant"] for r in drawn if r["pairs"] < 2]
        notes = ([f"one pair, no interval: {', '.join(singles)}"] if singles else []) + \
                ([f"missing: {', '.join(left_out)}"] if left_out else [])
        if notes:
            ax.set_title("; ".join(notes), fontsize=8, color="firebrick", loc="left")
        fig.suptitle(title, fontsize=10)
        return save(fig, path)

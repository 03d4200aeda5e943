"""How the token mixers (or whole models) grow with the input: rows of `ms2mnet bench scaling --out F.json`.

Mixer rows are per VFE level; the curves sum the four levels, as one forward of the network runs them all.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import seaborn as sns

from .canvas import figure, save

log = logging.getLogger(__name__)


def read_scaling(path: Path) -> pd.DataFrame:
    rows = json.loads(Path(path).read_text())
    if not isinstance(rows, list) or not rows or not all({"name", "size", "gmacs"} <= set(r) for r in rows):
        raise ValueError(f"{path}: expected the JSON rows of `ms2mnet bench scaling --out FILE.json` "
                         "(a list of objects with name, size, gmacs)")
    return pd.DataFrame(rows)


def _sum_if_complete(values: pd.Series) -> float:
    """A latency summed over levels only when every level was timed (NaN otherwise)."""
    return float(values.sum()) if values.notna().all() else float("nan")


def plot_scaling(frame: pd.DataFrame, title: str, path: Path) -> Path:
    frame = frame.assign(what=frame["what"] if "what" in frame else "mixer",
                         median_ms=pd.to_numeric(frame["median_ms"], errors="coerce") if "median_ms" in frame
                         else float("nan"))
    totals = frame.groupby(["what", "name", "size"], as_index=False).agg(
        gmacs=("gmacs", "sum"), median_ms=("median_ms", _sum_if_complete))
    timed = bool(totals["median_ms"].notna().any())
    kind = "mixers (sum over the four VFE levels)" if (totals["what"] == "mixer").all() else "models"
    with figure(11.0 if timed else 7.0, 4.8, ncols=2 if timed else 1) as (fig, axes):
        panels = [("gmacs", "GMACs (fvcore)")] + ([("median_ms", "latency, median (ms)")] if timed else [])
        for ax, (column, label) in zip(axes[0], panels):
            sns.lineplot(data=totals.dropna(subset=[column]), x="size", y=column, hue="name", style="name",
                         markers=True, dashes=False, ax=ax)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(sorted(totals["size"].unique()), [str(s) for s in sorted(totals["size"].unique())])
            ax.set_xlabel("input side (pixels)")
            ax.set_ylabel(label)
            ax.legend(title=None, frameon=False)
        fig.suptitle(f"{title}\n{kind}", fontsize=10)
        return save(fig, path)

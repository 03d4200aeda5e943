"""Figures drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global state),
in a seaborn style scoped to each figure, and saved atomically as PNG."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ms2mnet.io import atomic_path

DPI = 120


@contextmanager
def figure(width: float, height: float, nrows: int = 1, ncols: int = 1,
           **subplot_kw) -> Iterator[tuple[Figure, np.ndarray]]:
    """A Figure on an Agg canvas and its axes (always a 2-D array), inside a seaborn whitegrid style."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False, **subplot_kw))
        yield fig, axes


def save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path

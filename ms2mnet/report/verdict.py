"""The verdict against the papers: per model and published metric, does our 95% interval hold the number?

Only for real datasets (synthetic numbers say nothing about a paper) and only for runs that have published
numbers (a model's default variant with `reported=` in its registration). A metric's verdict is
`reproduced` when the published value lies inside our 95% t-interval over seeds, else `below by X` or
`above by X` (X = |our mean - published| in points). With one seed there is no interval, hence no verdict.
"""

from __future__ import annotations

from . import cells
from .collect import METRICS, RunResults
from .main_table import METRIC_LABELS, uses_test_selection
from .reference import is_synthetic, model_label, reported
from .stats import Estimate, mean_ci
from .table import Table

REPRODUCED = "reproduced"
NO_INTERVAL = "n=1, no interval"


def verdict(published: float, estimate: Estimate) -> str:
    """`reproduced`, `below by X` or `above by X` (points, two decimals); without an interval, say so."""
    if estimate.mean is None:
        return cells.MISSING
    if estimate.half_width is None:
        return NO_INTERVAL if estimate.n == 1 else cells.MISSING
    if estimate.low <= published <= estimate.high:
        return REPRODUCED
    gap = abs(estimate.mean - published)
    return f"below by {gap:.2f}" if estimate.mean < published else f"above by {gap:.2f}"


def _setting(run: RunResults, key: str) -> str:
    """The distinct values of a metrics.json setting (profile, selection) over the run's seeds."""
    values = sorted({s.metrics.get(key) for s in run.ok_seeds} - {None}, key=str)
    return ", ".join(map(str, values)) or "not recorded"


def verdict_table(runs: list[RunResults], dataset: str) -> Table:
    """One row per run and published metric. Raises for a synthetic dataset: the table must never exist there."""
    if is_synthetic(dataset):
        raise ValueError(f"no verdict table for the synthetic dataset {dataset!r}: it has no published numbers")
    columns = ["run", "model", "metric", "paper", "ours (95% CI)", "seeds", "verdict", "selection", "profile",
               "source"]
    rows, data = [], []
    for run in runs:
        paper = reported(run.model, run.variant, dataset)
        if paper is None:
            continue
        selection, profile = _setting(run, "selection"), _setting(run, "profile")
        label = model_label(run.model, run.variant)
        for metric in METRICS:
            published = paper.get(metric)
            if published is None:
                continue
            estimate = mean_ci(list(run.values(metric).values()))
            # a run that did not start from its paper's weights is not comparable with the paper
            outcome = f"none: init {run.init}" if run.init_differs else verdict(published, estimate)
            rows.append([run.name, label, METRIC_LABELS[metric], f"{published:.2f}", cells.estimate(estimate),
                         str(estimate.n), outcome, selection, profile, paper.source])
            data.append({"dataset": dataset, "run": run.name, "model": run.model, "variant": run.variant,
                         "metric": metric, "paper": published, "mean": estimate.mean,
                         "ci95": estimate.half_width, "low": estimate.low, "high": estimate.high, "n": estimate.n,
                         "verdict": outcome, "selection": selection, "profile": profile,
                         "test_selection": uses_test_selection(run), "source": paper.source})
    caption = (
        "Per model and published metric: the paper's value, our mean ± half-width of the 95% t-interval over "
        "seeds (n−1 degrees of freedom), and the verdict: 'reproduced' when the published value lies inside "
        "our interval, otherwise 'below by X' / 'above by X' with X = |our mean − paper| in points. With one "
        f"seed there is no interval: '{NO_INTERVAL}', no verdict. Only models with published numbers on this "
        "dataset (their default variant) appear; MS2MNet publishes mIoU only. 'selection': how the checkpoint "
        "was chosen (last, or test_best: on the test set, as the authors do); 'profile': the training "
        "schedule (docs/protocol.md). A verdict from the `paper` profile and `last` selection is the "
        "protocol's; any other setting says so in its row.")
    return Table("verdict", f"Verdict against the papers ({dataset})", caption, columns, rows, data)

"""The verdict against the papers: an equivalence test, so that seed variance cannot buy a "reproduced".

For a published value P and our seeds x_1..x_n, d = mean(x) − P. Against a margin δ (points, default 1.0):

- `reproduced`: two one-sided t-tests (TOST, SciPy's `ttest_1samp`) reject both d ≤ −δ and d ≥ +δ at
  α = 0.05, i.e. the 90% t-interval of d lies inside (−δ, +δ): equivalent within the margin. A wide
  interval can never pass, so more variance makes "reproduced" harder, not easier.
- `below by X` / `above by X` (X = |d|): not shown equivalent, and the two-sided t-test rejects d = 0
  at α = 0.05 (our 95% interval excludes P).
- `inconclusive: need more seeds`: neither (the interval is too wide for the margin and still holds P).

Intervals and verdicts start at n = 3 seeds (`MIN_SEEDS`); fewer give `n=2: no interval`. With zero
spread over the seeds the tests are degenerate; the verdict then compares |d| with δ directly.
Only for real datasets; the same test applies to ablation deltas (`ablation_verdict.py`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

from . import cells
from .collect import METRICS, RunResults
from .main_table import METRIC_LABELS, uses_test_selection
from .published import References
from .reference import is_synthetic, model_label, reported
from .stats import ALPHA, MIN_SEEDS, mean_ci
from .table import Table

DEFAULT_MARGIN = 1.0     # points; docs/reports.md, "Why ±1.0 point"
REPRODUCED = "reproduced"
INCONCLUSIVE = "inconclusive: need more seeds"


def too_few(n: int) -> str:
    return cells.MISSING if n == 0 else f"n={n}: no interval"


@dataclass(frozen=True)
class Equivalence:
    n: int
    difference: float | None     # mean − published
    p_equivalent: float | None   # TOST: the larger of the two one-sided p-values
    p_different: float | None    # two-sided t-test of difference = 0
    verdict: str


def equivalence(values: Sequence[float], published: float, margin: float = DEFAULT_MARGIN) -> Equivalence:
    """The verdict for seeds `values` (points) against `published`, within ±`margin` points."""
    if margin <= 0:
        raise ValueError(f"margin must be positive (points), got {margin}")
    n = len(values)
    if n < MIN_SEEDS:
        diff = math.fsum(values) / n - published if n else None
        return Equivalence(n, diff, None, None, too_few(n))
    diff = math.fsum(values) / n - published
    if max(values) == min(values):      # no spread: t is 0/0 or infinite
        equivalent, different = abs(diff) < margin, diff != 0
        p_eq, p_diff = (0.0 if equivalent else 1.0), (0.0 if different else 1.0)
    else:
        p_eq = max(float(scipy_stats.ttest_1samp(values, published - margin, alternative="greater").pvalue),
                   float(scipy_stats.ttest_1samp(values, published + margin, alternative="less").pvalue))
        p_diff = float(scipy_stats.ttest_1samp(values, published).pvalue)
        equivalent, different = p_eq < ALPHA, p_diff < ALPHA
    if equivalent:
        word = REPRODUCED
    elif different:
        word = f"{'below' if diff < 0 else 'above'} by {abs(diff):.2f}"
    else:
        word = INCONCLUSIVE
    return Equivalence(n, diff, p_eq, p_diff, word)


def _setting(run: RunResults, key: str) -> str:
    """The distinct values of a metrics.json setting (profile, selection) over the run's seeds."""
    values = sorted({s.metrics.get(key) for s in run.ok_seeds} - {None}, key=str)
    return ", ".join(map(str, values)) or "not recorded"


def p_cell(p: float | None) -> str:
    if p is None:
        return cells.NOT_APPLICABLE
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def verdict_table(runs: list[RunResults], refs: References, margin: float = DEFAULT_MARGIN) -> Table:
    """One row per run and published metric. Raises for a synthetic dataset: the table must never exist there."""
    dataset = refs.dataset
    if is_synthetic(dataset):
        raise ValueError(f"no verdict table for the synthetic dataset {dataset!r}: it has no published numbers")
    columns = ["run", "model", "metric", "paper", "ours (95% CI)", "seeds", "Δ", "p (TOST)", "verdict",
               "selection", "profile", "source"]
    rows, data = [], []
    for run in runs:
        paper = reported(refs, run.model, run.variant)
        selection, profile = _setting(run, "selection"), _setting(run, "profile")
        label = model_label(run.model, run.variant)
        for metric in METRICS:
            published = paper.get(metric)
            if published is None:
                continue
            values = list(run.values(metric).values())
            estimate, test = mean_ci(values), equivalence(values, published.value, margin)
            # a run that did not start from its paper's weights is not comparable with the paper
            outcome = f"none: init {run.init}" if run.init_differs else test.verdict
            source = published.source + ("" if published.checked else " (unchecked)")
            rows.append([run.name, label, METRIC_LABELS[metric], published.show(), cells.estimate(estimate),
                         str(estimate.n), cells.signed(test.difference), p_cell(test.p_equivalent), outcome,
                         selection, profile, source])
            data.append({"dataset": dataset, "run": run.name, "model": run.model, "variant": run.variant,
                         "metric": metric, "paper": published.value, "paper_checked": published.checked,
                         "mean": estimate.mean, "ci95": estimate.half_width, "low": estimate.low,
                         "high": estimate.high, "n": estimate.n, "difference": test.difference,
                         "margin": margin, "p_tost": test.p_equivalent, "p_difference": test.p_different,
                         "verdict": outcome, "selection": selection, "profile": profile,
                         "test_selection": uses_test_selection(run), "source": published.source})
    return Table("verdict", f"Verdict against the papers ({dataset})", caption(margin), columns, rows, data)


def caption(margin: float) -> str:
    return (
        f"Equivalence within ±{margin:g} points (margin). Δ = our mean − paper. 'reproduced': two one-sided "
        "t-tests over seeds (TOST, α = 0.05) show |Δ| < margin, i.e. the 90% interval of Δ lies inside the "
        "margin; 'below/above by X': not equivalent and our 95% interval excludes the paper's value; "
        f"'{INCONCLUSIVE}': neither, the interval is too wide for the margin. p (TOST): the larger one-sided "
        f"p-value (equivalent where < 0.05). Intervals and verdicts need at least {MIN_SEEDS} seeds. "
        "'(unchecked)': the number was not compared with its primary source (conf/references/<dataset>.yaml). "
        "'none: init ...': the run did not start from its paper's weights (e.g. scratch), so no verdict. "
        "'selection': how the checkpoint was chosen (last, or test_best: on the test set, as the authors do); "
        "'profile': the training schedule (docs/protocol.md). A verdict from the `paper` profile and `last` "
        "selection is the protocol's; any other setting says so in its row.")

"""The ablation deltas against the paper's ablation table: the same equivalence test as `verdict.py`.

For each row of the paper's ablation table that maps to one of our variants (conf/references/<dataset>.yaml,
`ablations:`), the published delta is that row minus the row mapped to `full`; ours are the per-seed
differences variant − full over the seeds both runs have (paired by seed), tested against the published
delta within the margin.
"""

from __future__ import annotations

from . import cells
from .ablation_table import ablation_runs, reference_run
from .collect import RunResults
from .main_table import METRIC_LABELS
from .published import ABLATION_METRICS, References
from .reference import default_variant
from .stats import mean_ci
from .table import Table
from .verdict import DEFAULT_MARGIN, equivalence, p_cell


def ablation_verdict_table(runs: list[RunResults], refs: References, margin: float = DEFAULT_MARGIN,
                           model: str = "ms2mnet") -> Table:
    base_row = refs.ablation(default_variant(model) or "full")
    reference = reference_run(runs, model)
    columns = ["variant", "paper row", "metric", "paper Δ", "our Δ (95% CI)", "pairs", "Δ − paper Δ", "p (TOST)",
               "verdict"]
    rows, data = [], []
    for run in ablation_runs(runs, model):
        paper = refs.ablation(run.variant or "")
        if paper is None or base_row is None:
            continue
        for metric in ABLATION_METRICS:
            if metric not in paper.values or metric not in base_row.values:
                continue
            published = paper.values[metric].value - base_row.values[metric].value
            ours = run.values(metric)
            full = reference.values(metric) if reference else {}
            diffs = [ours[s] - full[s] for s in sorted(set(ours) & set(full))]
            test = equivalence(diffs, published, margin)
            checked = paper.values[metric].checked and base_row.values[metric].checked
            rows.append([run.variant, paper.row, METRIC_LABELS[metric],
                         f"{published:+.2f}" + ("" if checked else " (unchecked)"),
                         cells.estimate(mean_ci(diffs), sign=True), str(len(diffs)), cells.signed(test.difference),
                         p_cell(test.p_equivalent), test.verdict])
            data.append({"dataset": refs.dataset, "run": run.name, "variant": run.variant, "paper_row": paper.row,
                         "metric": metric, "paper_delta": published, "paper_checked": checked,
                         "delta_mean": mean_ci(diffs).mean, "pairs": len(diffs), "difference": test.difference,
                         "margin": margin, "p_tost": test.p_equivalent, "verdict": test.verdict,
                         "source": paper.values[metric].source})
    caption = (f"Our ablation deltas (variant − full, paired by seed) against the paper's (its row − its full row), "
               f"equivalent within ±{margin:g} points by the same test as the verdict table. "
               + ("" if refs.ablations else "No ablation rows in conf/references/"
                  f"{refs.dataset}.yaml: add the paper's table there to fill this one."))
    return Table("ablation_verdict", f"Ablation deltas against the paper ({refs.dataset})", caption, columns, rows,
                 data)

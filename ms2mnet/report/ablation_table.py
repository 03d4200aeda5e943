"""Table 2, the ablations: each variant of a model against the model's default variant (MS2MNet: `full`),
paired by seed.

Significance: a two-sided paired t-test over the seeds both runs have (n−1 degrees of freedom), at
alpha = 0.05, without correction for the several variants and metrics tested.
"""

from __future__ import annotations

from . import cells
from .collect import RunResults
from .main_table import METRIC_LABELS
from .reference import SYNTHETIC_CAVEAT, default_variant, is_synthetic, titled
from .stats import PairedTest, mean_ci, paired_t_test
from .table import Table

ORDER = ("miou", "mf1", "oa")
NO_PAIR = "no paired seed"   # both runs have metrics, but for different seeds


def reference_run(runs: list[RunResults], model: str = "ms2mnet") -> RunResults | None:
    """The run of `model`'s default variant, against which its other variants are compared."""
    return next((r for r in runs if r.model == model and r.variant == default_variant(model)), None)


def ablation_runs(runs: list[RunResults], model: str = "ms2mnet") -> list[RunResults]:
    return [r for r in runs if r.model == model and r.variant != default_variant(model)]


def paired_tests(variant: RunResults, reference: RunResults | None) -> dict[str, PairedTest]:
    return {m: paired_t_test(variant.values(m), reference.values(m) if reference else {}) for m in ORDER}


def ablation_table(runs: list[RunResults], dataset: str) -> Table:
    reference = reference_run(runs)
    columns = ["variant", "mIoU"]
    for m in ORDER:
        columns += [f"Δ {METRIC_LABELS[m]}", f"p ({METRIC_LABELS[m]})"]
    columns.append("pairs")
    rows, data = [], []
    for run in ablation_runs(runs):
        tests = paired_tests(run, reference)
        pairs = tests["miou"].difference.n
        own = mean_ci(list(run.values("miou").values()))
        unpaired = pairs == 0 and bool(run.ok_seeds) and reference is not None and bool(reference.ok_seeds)
        row = [run.variant or run.name, cells.estimate(own)]
        for m in ORDER:
            row += [NO_PAIR if unpaired else cells.estimate(tests[m].difference, sign=True), cells.p_value(tests[m])]
        row.append(str(pairs))
        rows.append(row)
        record = {"dataset": dataset, "run": run.name, "variant": run.variant, "reference": reference.name
                  if reference else None, "pairs": pairs, "miou_mean": own.mean, "miou_ci95": own.half_width}
        for m in ORDER:
            d = tests[m].difference
            record.update({f"delta_{m}_mean": d.mean, f"delta_{m}_ci95": d.half_width,
                           f"delta_{m}_p": tests[m].p_value, f"delta_{m}_significant": tests[m].significant})
        if is_synthetic(dataset):
            record["note"] = SYNTHETIC_CAVEAT
        data.append(record)
    return Table("ablation", titled("Ablations against MS2MNet full", dataset), _caption(reference), columns, rows,
                 data)


def _caption(reference: RunResults | None) -> str:
    against = reference.name if reference else "ms2mnet-full (missing: no differences can be computed)"
    return (f"Δ = variant − {against}, in percentage points, mean over seeds ± half-width of its 95% t-interval; "
            "differences are paired by seed, over the seeds both runs have ('pairs'). p: two-sided paired t-test "
            "over seeds (n−1 degrees of freedom); 'yes' where p < 0.05, uncorrected for the number of variants and "
            "metrics; 'n/a' with fewer than two pairs; 'no paired seed' where both runs have metrics but for "
            "different seeds. mIoU: the variant's own mean ± 95% CI.")

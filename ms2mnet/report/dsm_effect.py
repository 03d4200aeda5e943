"""The DSM effect: MS2MNet `full` against its `rgb_only` ablation, paired by seed, on building IoU (on the
synthetic data only the height tells buildings from impervious surfaces) and on mIoU, with the verdict of
the paired t-test (ablation_table's rule: p < 0.05 with at least MIN_PAIRS_FOR_VERDICT pairs)."""

from __future__ import annotations

from . import cells
from .ablation_table import reference_run
from .collect import RunResults
from .stats import MIN_PAIRS_FOR_VERDICT, PairedTest, paired_t_test

ABLATION = "rgb_only"


def _verdict(test: PairedTest) -> str:
    if test.significant is None:
        return f"no verdict (fewer than {MIN_PAIRS_FOR_VERDICT} paired seeds)"
    if not test.significant:
        return "not significant (p ≥ 0.05)"
    return "DSM helps (significant, p < 0.05)" if test.difference.mean > 0 else "DSM hurts (significant, p < 0.05)"


def dsm_effect(runs: list[RunResults]) -> dict | None:
    """Records for building IoU and mIoU (Δ = full − rgb_only), or None without both runs."""
    full = reference_run(runs)
    ablated = next((r for r in runs if r.model == "ms2mnet" and r.variant == ABLATION), None)
    if full is None or ablated is None:
        return None
    tests = {"building IoU": paired_t_test(full.class_values("building", "iou"),
                                           ablated.class_values("building", "iou")),
             "mIoU": paired_t_test(full.values("miou"), ablated.values("miou"))}
    return {metric: {"delta_mean": t.difference.mean, "delta_ci95": t.difference.half_width,
                     "pairs": t.difference.n, "p": t.p_value, "significant": t.significant, "verdict": _verdict(t),
                     "cell": cells.estimate(t.difference, sign=True), "p_cell": cells.p_value(t)}
            for metric, t in tests.items()}


def dsm_effect_lines(effect: dict | None) -> list[str]:
    """The README section (empty without both runs)."""
    if effect is None:
        return []
    lines = ["## DSM effect: MS2MNet full − rgb_only", "",
             "| metric | Δ (points) | p | pairs | verdict |", "|---|---|---|---|---|"]
    lines += [f"| {metric} | {r['cell']} | {r['p_cell']} | {r['pairs']} | {r['verdict']} |"
              for metric, r in effect.items()]
    return lines + ["", "Δ: mean over seeds ± half-width of its 95% t-interval; two-sided paired t-test over the "
                        "seeds both runs have; a verdict needs p < 0.05 and at least "
                        f"{MIN_PAIRS_FOR_VERDICT} pairs.", ""]

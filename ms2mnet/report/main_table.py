"""Table 1, the main comparison: cost and accuracy of every run, and what the papers report."""

from __future__ import annotations

from . import cells
from .collect import METRICS, RunResults
from .published import References
from .reference import SYNTHETIC_CAVEAT, backbone, is_synthetic, model_label, reported, titled
from .stats import mean_ci
from .table import Table

METRIC_LABELS = {"oa": "OA", "mf1": "mF1", "miou": "mIoU"}
TEST_BEST_MARK = " †"
UNCHECKED_MARK = "*"     # a published number nobody compared with its primary source


def complexity_of(run: RunResults) -> dict:
    """Params (M), GMACs and median latency from the run's complexity record; None where nothing was measured."""
    record = run.complexity
    if not record:
        return {"params_m": None, "gmacs": None, "gmacs_with_aux": None, "latency_ms": None, "latency_device": None,
                "latency_conditions": None}
    latency = record.get("latency") or {}
    device = latency.get("device_name") or latency.get("device") or record.get("device_name") or record.get("device")
    return {"params_m": record["params"]["total"] / 1e6, "gmacs": record["gmacs"],
            "gmacs_with_aux": record.get("gmacs_with_aux"),
            "latency_ms": latency.get("median_ms"),
            "latency_device": f"{device}, {latency['threads']} threads" if latency.get("threads") else device,
            "latency_conditions": latency_conditions(latency)}


def latency_conditions(latency: dict) -> str | None:
    """"median of 20 runs after 5 warm-up, batch 1, float32, Test CPU, 2 threads": what a latency means."""
    if not latency.get("median_ms"):
        return None
    def known(key: str) -> str:
        value = latency.get(key)
        return "?" if value is None else str(value)
    device = latency.get("device_name") or latency.get("device") or "?"
    return (f"median of {known('runs')} runs after {known('warmup')} warm-up, batch {known('batch')}, "
            f"{known('precision')}, {device}, {known('threads')} threads")


def uses_test_selection(run: RunResults) -> bool:
    return any(s.metrics.get("selection") in ("test_best", "authors") for s in run.ok_seeds)


def run_setting(run: RunResults, key: str, default: str) -> str:
    """A metrics.json setting over the run's seeds (selection, recipe): its value, or the values seen."""
    return " / ".join(sorted({str(s.metrics.get(key) or default) for s in run.ok_seeds})) or "–"


def main_table(runs: list[RunResults], dataset: str, seeds: list[int], refs: References | None = None) -> Table:
    with_paper = not is_synthetic(dataset)
    refs = refs or References(dataset, None)
    columns = ["run", "model", "backbone", "init", "params (M)", "GMACs (fvcore, eval)", "GMACs (train+aux, as thop)",
               "latency (ms)", "OA", "mF1", "mIoU", "seeds",
               "selection", "recipe"]
    if with_paper:
        columns += ["paper OA / mF1 / mIoU", "Δ OA / mF1 / mIoU"]
    rows, data = [], []
    for run in runs:
        cost = complexity_of(run)
        estimates = {m: mean_ci(list(run.values(m).values())) for m in METRICS}
        label = model_label(run.model, run.variant) + (TEST_BEST_MARK if uses_test_selection(run) else "")
        row = [run.name, label, backbone(run.model, run.variant) or "?", run.init, cells.number(cost["params_m"]),
               cells.number(cost["gmacs"]), cells.number(cost["gmacs_with_aux"]), cells.number(cost["latency_ms"], 0),
               *(cells.estimate(estimates[m]) for m in METRICS), f"{len(run.ok_seeds)}/{len(seeds)}",
               run_setting(run, "selection", "last"), run_setting(run, "recipe", "protocol")]
        record = {"dataset": dataset, "run": run.name, "model": run.model, "variant": run.variant,
                  "backbone": backbone(run.model, run.variant), "init": run.init,
                  "init_as_paper": not run.init_differs, **cost,
                  "selection": run_setting(run, "selection", "last"),
                  "recipe": run_setting(run, "recipe", "protocol")}
        for m in METRICS:
            record.update({f"{m}_mean": estimates[m].mean, f"{m}_ci95": estimates[m].half_width,
                           f"{m}_n": estimates[m].n})
        record.update(seeds_ok=len(run.ok_seeds), seeds_expected=len(seeds),
                      status="ok" if len(run.ok_seeds) == len(seeds) else
                      ("missing" if not run.ok_seeds else "partial"))
        if with_paper:
            paper = reported(refs, run.model, run.variant)
            published = {m: paper[m].value if m in paper else None for m in METRICS}
            unchecked = {m: m in paper and not paper[m].checked for m in METRICS}
            delta = {m: estimates[m].mean - published[m]
                     if published[m] is not None and estimates[m].mean is not None else None for m in METRICS}
            row.append(" / ".join(cells.NO_REFERENCE if published[m] is None else
                                  f"{published[m]:.2f}{UNCHECKED_MARK if unchecked[m] else ''}" for m in METRICS))
            row.append(" / ".join(cells.NO_REFERENCE if published[m] is None else cells.signed(delta[m])
                                  for m in METRICS))
            record.update({f"paper_{m}": published[m] for m in METRICS})
            record.update({f"delta_{m}": delta[m] for m in METRICS})
            record["paper_source"] = "; ".join(sorted({v.source for v in paper.values()})) or None
            record["paper_unchecked"] = [m for m in METRICS if unchecked[m]]
        else:
            record["note"] = SYNTHETIC_CAVEAT
        rows.append(row)
        data.append(record)
    return Table("main", titled("Main comparison", dataset), _caption(runs, dataset, seeds, with_paper),
                 columns, rows, data)


def _caption(runs: list[RunResults], dataset: str, seeds: list[int], with_paper: bool) -> str:
    sizes = sorted({"x".join(map(str, r.complexity["input"]["image"][2:])) for r in runs
                    if r.complexity and "input" in r.complexity})
    parts = [
        "OA, mF1, mIoU in percent, mean ± half-width of the 95% t-interval over seeds (n−1 degrees of freedom); "
        "'(n=1)', '(n=2)' where fewer than three seeds ran: no interval is printed (with two seeds it would be 12.7 standard errors wide). mF1 and mIoU over the five classes without "
        "clutter (protocol isprs-ssrs).",
        f"Seeds expected: {', '.join(map(str, seeds))}; 'seeds' counts those with metrics, and a run with "
        "none shows as missing.",
        "init: the weights a run started from (pretraining and the first 8 hex digits of each file's sha256), "
        "or scratch; a run whose init is not its paper's gets no verdict.",
        f"GMACs (fvcore, eval): fvcore in eval mode, input {' / '.join(sizes) or 'size unknown'} (image + DSM), one "
        "multiply-add counted once (MACs). GMACs (train+aux, as thop): the same count in train mode with the "
        "auxiliary heads (`gmacs_with_aux`), the setting in which the authors counted with thop (thop itself "
        "counts about 0.71 G less for MS2MNet, docs/complexity.md); 'missing' where the profile skipped it. "
        f"Latency: {'; '.join(sorted({c for c in (complexity_of(r)['latency_conditions'] for r in runs) if c})) or 'not measured'}"
        " (one forward of one crop, no sliding window).",
    ]
    if any(uses_test_selection(r) for r in runs):
        parts.append("† checkpoint selected on the test set, not the last one ('selection': test_best keeps the "
                     "best mIoU per epoch, authors the best OA every 2000 iterations from epoch 30).")
    parts.append("'recipe': protocol (the profile's one schedule) or official (the model's own published "
                 "recipe, docs/protocol.md).")
    if with_paper:
        parts.append(f"Paper: the published numbers of conf/references/{dataset}.yaml, each with its source "
                     "(the verdict table names them); '–' where the reference file has no number (MS2MNet's README "
                     f"gives mIoU only); {UNCHECKED_MARK}: not checked against its primary source; Δ = ours − paper.")
    else:
        parts.append("Paper numbers are omitted: they were measured on the real ISPRS data and cannot be "
                     "compared with a synthetic dataset.")
    return " ".join(parts)

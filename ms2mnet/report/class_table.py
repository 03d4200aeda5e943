"""Table 3, per class: IoU and F1 of each class for every run, mean ± 95% CI over seeds."""

from __future__ import annotations

from ms2mnet.data.palette import CLASSES

from . import cells
from .collect import RunResults
from .published import References
from .reference import SYNTHETIC_CAVEAT, default_variant, is_synthetic, model_label, titled
from .stats import mean_ci
from .table import Table

KEYS = {"iou": "IoU", "f1": "F1"}


def class_table(runs: list[RunResults], dataset: str, key: str, refs: References | None = None) -> Table:
    if key not in KEYS:
        raise ValueError(f"key={key!r}: expected one of {sorted(KEYS)}")
    columns = ["run", "model", *CLASSES]
    rows, data = [], []
    for run in runs:
        estimates = {c: mean_ci(list(run.class_values(c, key).values())) for c in CLASSES}
        rows.append([run.name, model_label(run.model, run.variant), *(cells.estimate(estimates[c]) for c in CLASSES)])
        record = {"dataset": dataset, "run": run.name, "seeds_ok": len(run.ok_seeds)}
        for c in CLASSES:
            record.update({f"{c}_mean": estimates[c].mean, f"{c}_ci95": estimates[c].half_width})
        if is_synthetic(dataset):
            record["note"] = SYNTHETIC_CAVEAT
        data.append(record)
    if key == "f1" and refs is not None:
        _published_rows(runs, refs, rows, data)
    caption = (f"Per-class {KEYS[key]} in percent, mean ± half-width of the 95% t-interval over seeds; '(n=1)' with "
               "one seed. Clutter is shown but left out of the protocol's mF1 and mIoU."
               + (" Rows 'paper: <model>': the published per-class F1 (conf/references), '(unchecked)' where "
                  "nobody compared it with its source." if key == "f1" else ""))
    return Table(f"per_class_{key}", titled(f"Per-class {KEYS[key]}", dataset), caption, columns, rows, data)


def _published_rows(runs: list[RunResults], refs: References, rows: list, data: list) -> None:
    """A 'paper: <model>' row under the per-class F1 of each run whose model publishes per-class F1."""
    for run in runs:
        default = (run.variant or default_variant(run.model)) == default_variant(run.model)
        published = refs.per_class_f1.get(run.model) if default and not is_synthetic(refs.dataset) else None
        if not published or any(r[0] == f"paper: {run.model}" for r in rows):
            continue
        rows.append([f"paper: {run.model}", model_label(run.model, None),
                     *(published[c].show() if c in published else cells.NO_REFERENCE for c in CLASSES)])
        data.append({"dataset": refs.dataset, "run": f"paper: {run.model}", "published": True,
                     **{f"{c}_mean": published[c].value if c in published else None for c in CLASSES},
                     "source": "; ".join(sorted({v.source for v in published.values()}))})

"""Table 3, per class: IoU and F1 of each class for every run, mean ± 95% CI over seeds."""

from __future__ import annotations

from ms2mnet.data.palette import CLASSES

from . import cells
from .collect import RunResults
from .reference import SYNTHETIC_CAVEAT, is_synthetic, model_label, titled
from .stats import mean_ci
from .table import Table

KEYS = {"iou": "IoU", "f1": "F1"}


def class_table(runs: list[RunResults], dataset: str, key: str) -> Table:
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
    caption = (f"Per-class {KEYS[key]} in percent, mean ± half-width of the 95% t-interval over seeds; '(n=1)' with "
               "one seed. Clutter is shown but left out of the protocol's mF1 and mIoU.")
    return Table(f"per_class_{key}", titled(f"Per-class {KEYS[key]}", dataset), caption, columns, rows, data)

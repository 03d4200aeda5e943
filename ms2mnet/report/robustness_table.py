"""How much each model needs its DSM: mIoU under each DSM perturbation (`ms2mnet evaluate eval.dsm=...`)
and the drop from clean, per run; image-only models are the reference line (their DSM modes cannot differ).

Reads seed<k>/robustness/<mode>.json beside each seed's metrics.json; clean is the seed's own metrics.json.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ms2mnet.models import get_model

from . import cells
from .collect import RunResults
from .reference import model_label, titled
from .stats import mean_ci
from .table import Table

log = logging.getLogger(__name__)


def robustness_values(run: RunResults) -> dict[str, dict[int, float]]:
    """DSM mode -> seed -> mIoU in percent; 'clean' from metrics.json."""
    out: dict[str, dict[int, float]] = {"clean": run.values("miou")}
    for seed in run.ok_seeds:
        for path in sorted(Path(seed.path, "robustness").glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                mode, miou = str(record["dsm"]), 100.0 * float(record["miou"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                log.warning("%s: unreadable robustness result (%s); left out", path, err)
                continue
            if mode != "clean":
                out.setdefault(mode, {})[seed.seed] = miou
    return out


def _uses_dsm(run: RunResults) -> bool:
    try:
        return "dsm" in get_model(run.model).modalities and run.variant != "rgb_only"
    except ValueError:
        return True


def robustness_table(runs: list[RunResults], dataset: str) -> Table:
    values = {run.name: robustness_values(run) for run in runs}
    modes = sorted({m for v in values.values() for m in v} - {"clean"})
    columns = ["run", "model", "uses DSM", "clean", *(f"{m}" for m in modes), *(f"Δ {m}" for m in modes)]
    rows, data = [], []
    ordered = sorted(runs, key=lambda r: not _uses_dsm(r))     # multimodal first, image-only as the reference
    for run in ordered:
        v = values[run.name]
        if not modes or not any(m in v for m in modes):
            continue
        clean = mean_ci(list(v["clean"].values()))
        record = {"dataset": dataset, "run": run.name, "uses_dsm": _uses_dsm(run), "clean_miou": clean.mean}
        row = [run.name, model_label(run.model, run.variant), "yes" if _uses_dsm(run) else "no (reference)",
               cells.estimate(clean)]
        drops = []
        for mode in modes:
            est = mean_ci(list(v.get(mode, {}).values()))
            paired = [v[mode][s] - v["clean"][s] for s in sorted(set(v.get(mode, {})) & set(v["clean"]))]
            drop = mean_ci(paired)
            row.append(cells.estimate(est))
            drops.append(cells.estimate(drop, sign=True))
            record.update({f"{mode}_miou": est.mean, f"{mode}_delta": drop.mean, f"{mode}_pairs": drop.n})
        rows.append(row + drops)
        data.append(record)
    caption = ("mIoU (%) of each trained run with its test DSM perturbed (`ms2mnet evaluate --run <name> "
               "eval.dsm=<mode>`): zero = DSM missing, noise:σ = Gaussian noise of σ in the prepared DSM's [0, 1] "
               "units, shift:p = moved p pixels down and right (misregistration), stale:t = the DSM of tile t. "
               "Δ = mode − clean, paired by seed (mean ± 95% CI from three seeds). Image-only models cannot "
               "depend on the DSM: their row is the reference line, and any Δ there is a bug.")
    return Table("dsm_robustness", titled("DSM robustness", dataset), caption, columns, rows, data)

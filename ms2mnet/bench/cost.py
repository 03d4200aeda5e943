"""What a matrix of runs costs, from measurements: `ms2mnet bench cost`.

Per run: training images per seed (profile: epochs x iterations x batch) divided by the images/s that
`ms2mnet bench train` measured for that model and variant, plus the evaluations (one, or one per epoch and
one more under `selection=test_best`) times the test set's sliding windows divided by the measured
windows/s. Times seeds, summed over runs. Nothing is scaled by MACs: the suite's own latencies show that
time per GMAC differs several-fold between models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ms2mnet.data.sampling import sliding_windows

from .train import VAIHINGEN_TEST_TILE

# The protocol's test sets: tile count and (mean) size; Vaihingen's four tiles differ slightly in size.
TEST_SETS = {"vaihingen": (4, VAIHINGEN_TEST_TILE), "potsdam": (6, (6000, 6000))}


@dataclass(frozen=True)
class Schedule:
    """One run and seed of a profile on a dataset."""
    profile: str
    train_images: int          # epochs x iterations x batch
    evaluations: int           # 1, or epochs + 1 with selection=test_best
    windows: int               # sliding windows over the test set at the profile's window and stride
    window: int
    stride: int
    crop: int = 256            # training crop side


def windows_of_test_set(tiles: int, tile_size: tuple[int, int], window: int, stride: int) -> int:
    padded = (max(tile_size[0], window), max(tile_size[1], window))
    return tiles * len(sliding_windows(*padded, window, stride))


def prepared_test_set(prepared: Path, dataset: str) -> list[tuple[int, int]] | None:
    """The test tiles' sizes of a prepared dataset (its manifest), or None where it is not prepared."""
    manifest = Path(prepared) / dataset / "manifest.json"
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    return [tuple(data["tiles"][t]) for t in data["splits"]["test"]]


def schedule(profile: str, train: dict, evaluation: dict, tiles: int | list[tuple[int, int]],
             tile_size: tuple[int, int] | None = None, selection: str = "last") -> Schedule:
    """`tiles` and `tile_size`: a count of equal tiles, or `tiles` as the list of every tile's size."""
    images = int(train["epochs"]) * int(train["iterations_per_epoch"]) * int(train["batch_size"])
    evaluations = 1 + (int(train["epochs"]) if selection == "test_best" else 0)
    window, stride = int(evaluation["window"]), int(evaluation["stride"])
    sizes = tiles if isinstance(tiles, list) else [tile_size] * tiles
    windows = sum(windows_of_test_set(1, size, window, stride) for size in sizes)
    return Schedule(profile, images, evaluations, windows, window, stride, int(train["crop"]))


def run_key(record: dict) -> str:
    return record["model"] if record.get("variant") is None else f"{record['model']}-{record['variant']}"


def read_measurements(paths: list[Path]) -> dict[str, dict]:
    """Run name -> the `ms2mnet bench train --out` record measured for it."""
    found = {}
    for path in paths:
        record = json.loads(Path(path).read_text())
        if not isinstance(record, dict) or "train_img_s" not in record or "model" not in record:
            raise ValueError(f"{path}: not a record of `ms2mnet bench train --out FILE.json` (no train_img_s)")
        found[run_key(record)] = record
    return found


def cost_rows(runs: list[str], seeds: int, plan: Schedule, measured: dict[str, dict]) -> list[dict]:
    """One row per run: hours per seed (training, evaluation) and for all seeds; None where not measured."""
    rows = []
    for run in runs:
        record = measured.get(run)
        row = {"run": run, "seeds": seeds, "measured": record is not None}
        if record is None or "eval_windows_s" not in record:
            row.update(train_h=None, eval_h=None, seed_h=None, total_h=None,
                       note="not measured" if record is None else "evaluation not measured")
        else:
            train_h = plan.train_images / record["train_img_s"] / 3600
            eval_h = plan.evaluations * plan.windows / record["eval_windows_s"] / 3600
            row.update(train_h=train_h, eval_h=eval_h, seed_h=train_h + eval_h, total_h=seeds * (train_h + eval_h),
                       train_img_s=record["train_img_s"], eval_windows_s=record["eval_windows_s"],
                       device=record.get("device_name"), precision=record.get("precision"),
                       conditions=conditions(record), train_size=record.get("train_size"),
                       eval_window=record.get("eval_window"), note="")
        rows.append(row)
    return rows


def conditions(record: dict) -> str:
    return (f"{record.get('device_name')} ({record.get('device')}, {record.get('threads')} threads), "
            f"{record.get('precision')}, training {record.get('train_size')}px batch {record.get('train_batch')} "
            f"({record.get('train_steps')} steps after {record.get('train_warmup')}), evaluation window "
            f"{record.get('eval_window')} batch {record.get('eval_batch')}")


def hours(value: float | None) -> str:
    return "not measured" if value is None else (f"{value:.2f}" if value < 100 else f"{value:,.0f}")


def markdown(rows: list[dict], plan: Schedule, dataset: str, selection: str) -> str:
    lines = ["| run | train (images/s) | evaluation (windows/s) | training (h/seed) | evaluation (h/seed) | seeds "
             "| total (h) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r.get('train_img_s', 0):.3g} | {r.get('eval_windows_s', 0):.3g} | "
                     f"{hours(r['train_h'])} | {hours(r['eval_h'])} | {r['seeds']} | {hours(r['total_h'])} |"
                     if r["total_h"] is not None else
                     f"| {r['run']} | {r['note']} | | | | {r['seeds']} | not measured |")
    done = [r for r in rows if r["total_h"] is not None]
    missing = [r["run"] for r in rows if r["total_h"] is None]
    total = sum(r["total_h"] for r in done)
    lines.append(f"| **total** | | | | | | **{hours(total)}**{' (without ' + ', '.join(missing) + ')' if missing else ''} |")
    devices = sorted({r["conditions"] for r in done})
    other_sizes = [r["run"] for r in done if (r["train_size"], r["eval_window"]) != (plan.crop, plan.window)]
    gpu = any("cuda" in c for c in devices)
    lines += ["", f"Matrix: {len(rows)} runs x {rows[0]['seeds'] if rows else 0} seeds, profile `{plan.profile}` on "
              f"{dataset}: {plan.train_images:,} training images per seed; {plan.evaluations} evaluation(s) per seed "
              f"(selection {selection}) of {plan.windows:,} windows (window {plan.window}, stride {plan.stride}).",
              "Measured on: " + ("; ".join(devices) or "nothing") + ".",
              "" if gpu else "No GPU measured these numbers: they are CPU figures only, not an estimate for a GPU.",
              (f"Measured at other sizes than the profile's ({plan.crop}px crops, window {plan.window}) for "
               f"{', '.join(other_sizes)}: those hours are not the profile's." if other_sizes else ""),
              "Not included: data loading, checkpointing, the first epoch's kernel selection, queueing."]
    return "\n".join(line for line in lines if line is not None).replace("\n\n\n", "\n\n").rstrip() + "\n"

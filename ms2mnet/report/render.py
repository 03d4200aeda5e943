"""render_report: runs -> reports/ (README.md, one CSV and one LaTeX file per table, figures/, summary.json)."""

from __future__ import annotations

import logging
from pathlib import Path

from ms2mnet.checkout import source_tree
from ms2mnet.data.palette import CLASSES
from ms2mnet.data.specs import MissingDataError
from ms2mnet.data.store import TileStore
from ms2mnet.io import atomic_folder, write_json

from .ablation_table import ablation_table, reference_run
from .class_table import class_table
from .collect import RunResults, collect_runs
from .figures.ablation_deltas import plot_ablation_deltas
from .figures.accuracy_cost import plot_accuracy_cost
from .figures.class_heatmap import plot_class_heatmap
from .dsm_effect import dsm_effect, dsm_effect_lines
from .figures.mosaic import Prediction, choose_tiles, plot_mosaic
from .figures.scaling import plot_scaling, read_scaling
from .figures.training import loss_names, plot_training, read_losses
from .main_table import main_table
from .provenance import check_tree, missing_seeds, provenance
from .readme import readme
from .robustness_table import robustness_table
from .tile_table import tile_table
from .reference import SYNTHETIC_CAVEAT, is_synthetic, titled
from .table import write_table
from .ablation_verdict import ablation_verdict_table
from .published import References, load_references
from .verdict import DEFAULT_MARGIN, verdict_table

log = logging.getLogger(__name__)
MOSAIC_RUNS = 6      # prediction columns in the mosaic, at most
MOSAIC_TILES = 3     # test tiles shown: those whose crops best show buildings, trees and cars
WHY_SKIPPED = {      # what a figure lacked when its function drew nothing
    "mIoU against GMACs": "no run has both mIoU and GMACs",
    "Ablation deltas": "no variant has metrics for a seed that ms2mnet-full also has",
    "Per-class IoU": "no run has per-class metrics",
    "Training curves": "no seed has a dvclive loss log",
    "Qualitative mosaic": "no run with metrics saved predictions of the test tiles",
}


def mosaic_columns(runs: list[RunResults], names: list[str] | None = None) -> list[RunResults]:
    """The runs shown in the mosaic: `names` in that order, or by default MS2MNet's reference run and the
    baselines (not its variants); at most MOSAIC_RUNS."""
    if names:
        by_name = {r.name: r for r in runs}
        return [by_name[n] for n in names if n in by_name][:MOSAIC_RUNS]
    reference = reference_run(runs)
    chosen = ([reference] if reference else []) + [r for r in runs if r.model != "ms2mnet"]
    return (chosen or runs)[:MOSAIC_RUNS]


def mosaic_rows(runs: list[RunResults], tiles: list[str],
                names: list[str] | None = None) -> dict[str, list[Prediction]]:
    """For each tile, the saved predictions of the mosaic_columns runs, each from its first seed with
    metrics and a PNG of every tile."""
    chosen: list[tuple[str, Path]] = []
    for run in mosaic_columns(runs, names):
        seed = next((s for s in run.ok_seeds if all((s.path / "predictions" / f"{t}.png").is_file() for t in tiles)),
                    None)
        if seed is not None:
            chosen.append((f"{run.name}, seed {seed.seed}", seed.path / "predictions"))
    return {tile: [Prediction(label, folder / f"{tile}.png") for label, folder in chosen] for tile in tiles}


def _figures(runs: list[RunResults], tables: dict, dataset: str, prepared_dir: Path, scaling: Path | None,
             out_dir: Path, notes: list[str], mosaic_runs: list[str] | None = None,
             mosaic_errors: bool = False) -> dict[str, str | None]:
    folder = out_dir / "figures"
    figures: dict[str, Path | None] = {
        "mIoU against GMACs": plot_accuracy_cost(tables["main"].data, titled("mIoU against GMACs", dataset),
                                                 folder / "accuracy_cost.png"),
        "Ablation deltas": plot_ablation_deltas(tables["ablation"].data, titled("Ablations: change against full",
                                                                                dataset), folder / "ablation.png"),
        "Per-class IoU": plot_class_heatmap(tables["per_class_iou"].data, list(CLASSES),
                                            titled("Per-class IoU", dataset), folder / "per_class_iou.png"),
    }
    if scaling is None:
        figures["Mixer scaling"] = None
        notes.append("Mixer scaling figure skipped: no `--scaling FILE.json` given (write one with "
                     "`ms2mnet bench scaling --what mixers --sizes 128 256 512 --no-latency --out FILE.json`).")
    else:
        figures["Mixer scaling"] = plot_scaling(read_scaling(scaling), titled("Scaling", dataset),
                                                folder / "scaling.png")
    seed_dirs = {r.name: [s.path for s in r.seeds.values()] for r in runs}
    figures["Training curves"] = plot_training(read_losses(seed_dirs), titled("Training loss", dataset),
                                               folder / "training.png", loss_names(seed_dirs))
    try:
        store = TileStore(Path(prepared_dir) / dataset)
        rows = choose_tiles(store, mosaic_rows(runs, store.tiles("test"), mosaic_runs), MOSAIC_TILES)
        figures["Qualitative mosaic"] = plot_mosaic(store, rows, titled("Test tiles, centre crops", dataset),
                                                    folder / "mosaic.png", errors=mosaic_errors)
    except (MissingDataError, ValueError) as err:   # no prepared data, or predictions that do not fit it
        figures["Qualitative mosaic"] = None
        notes.append(f"Qualitative mosaic skipped: {err}")
    for name, path in figures.items():
        if path is None and not any(note.startswith(name) for note in notes):
            notes.append(f"{name} figure skipped: {WHY_SKIPPED[name]}.")
    return {name: str(path.relative_to(out_dir)) if path else None for name, path in figures.items()}


class EmptyReportError(ValueError):
    """No expected seed has metrics, and writing would replace an existing report."""


def render_report(dataset: str, runs_dir: Path, prepared_dir: Path, out_dir: Path, runs: list[str],
                  seeds: list[int], scaling: Path | None = None, *, profile: str, allow_empty: bool = False,
                  references: Path | None = None, margin: float = DEFAULT_MARGIN, allow_dirty: bool = False,
                  mosaic_runs: list[str] | None = None, mosaic_errors: bool = False,
                  preface: list[str] | None = None) -> dict:
    """Render reports/ for `runs` x `seeds` of `dataset` under `profile` (runs/<dataset>/<profile>/); returns
    the summary also written to summary.json. Expected seeds without metrics are reported as missing, never
    as zeros. A report in which every seed is missing does not replace an existing one unless `allow_empty`.
    Published numbers come from `references`/<dataset>.yaml (default conf/references); verdicts use ±`margin`
    points. A checkout with uncommitted changes refuses to render unless `allow_dirty` (the README then says so).
    `mosaic_runs`: the mosaic's columns (default: MS2MNet full and the baselines); `mosaic_errors`: tint
    wrong pixels there; `preface`: Markdown lines for the top of README.md (what the runs are)."""
    if not runs or not seeds:
        raise ValueError(f"expected at least one run and one seed, got runs={runs} seeds={seeds}")
    if scaling is not None and not Path(scaling).is_file():
        raise FileNotFoundError(f"{scaling}: no scaling file; write it with `ms2mnet bench scaling --what mixers "
                                "--sizes 128 256 512 --no-latency --out FILE.json`, or leave out --scaling")
    tree = source_tree()
    check_tree(tree, allow_dirty)
    out_dir = Path(out_dir)
    results = collect_runs(Path(runs_dir), dataset, runs, seeds, profile=profile)
    if not any(r.ok_seeds for r in results):
        where = Path(runs_dir) / dataset / profile
        if (out_dir / "README.md").exists() and not allow_empty:
            raise EmptyReportError(f"none of the {len(runs)} expected runs has metrics under {where}; refusing to "
                                   f"replace {out_dir / 'README.md'} with an all-missing report (check --runs-dir, "
                                   "--dataset and --profile, or pass --allow-empty)")
        log.warning("none of the %d expected runs has metrics under %s: the report shows only 'missing'",
                    len(runs), where)
    refs = load_references(dataset, references)
    with atomic_folder(out_dir, keep=_not_written_by_reports) as staging:   # the old report stays whole until
        summary = _write(dataset, profile, runs, seeds, results, Path(prepared_dir), scaling, staging,  # the swap
                         refs, margin, tree, mosaic_runs=mosaic_runs, mosaic_errors=mosaic_errors, preface=preface)
    log.info("report for %s (%d runs x %d seeds, %d missing) written to %s", dataset, len(runs), len(seeds),
             len(summary["missing"]), out_dir)
    return summary


def _not_written_by_reports(entry: Path) -> bool:
    """Entries of an old report folder that a report does not write (kept when the folder is replaced)."""
    return entry.name not in ("README.md", "summary.json", "figures") and entry.suffix not in (".csv", ".tex")


def _write(dataset: str, profile: str, runs: list[str], seeds: list[int], results: list[RunResults],
           prepared_dir: Path, scaling: Path | None, out_dir: Path, refs: References, margin: float, tree: dict, *, mosaic_runs: list[str] | None,
           mosaic_errors: bool, preface: list[str] | None) -> dict:
    tables = {"main": main_table(results, dataset, seeds, refs), "ablation": ablation_table(results, dataset),
              "per_class_iou": class_table(results, dataset, "iou"),
              "per_class_f1": class_table(results, dataset, "f1", refs), "per_tile": tile_table(results, dataset)}
    robustness = robustness_table(results, dataset)
    if robustness.rows:            # only once someone ran `ms2mnet evaluate eval.dsm=...`
        tables["dsm_robustness"] = robustness
    if not is_synthetic(dataset):   # published numbers exist only for the real data
        tables["verdict"] = verdict_table(results, refs, margin)
        tables["ablation_verdict"] = ablation_verdict_table(results, refs, margin)
    for table in tables.values():
        write_table(table, out_dir)
    notes: list[str] = []
    figures = _figures(results, tables, dataset, prepared_dir, scaling, out_dir, notes, mosaic_runs, mosaic_errors)
    prov, missing = provenance(results), missing_seeds(results)
    prov["rendered_from"] = tree
    effect = dsm_effect(results)
    (out_dir / "README.md").write_text(readme(dataset, seeds, runs, prov, missing, tables, figures, notes,
                                              (preface or []) + dsm_effect_lines(effect)))
    summary = {"dataset": dataset, "profile": profile, "synthetic": is_synthetic(dataset),
               "references": str(refs.path) if refs.path else None, "margin": margin,
               "caveat": SYNTHETIC_CAVEAT if is_synthetic(dataset) else None,
               "runs": runs, "seeds": seeds, "provenance": prov, "missing": missing,
               "tables": {name: table.data for name, table in tables.items()},
               "dsm_effect": effect, "figures": figures, "notes": notes}
    write_json(out_dir / "summary.json", summary)
    return summary

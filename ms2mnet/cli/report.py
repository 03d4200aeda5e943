"""`ms2mnet report`: render reports/ from the run directories (the pipeline's last stage)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="tables (Markdown, CSV, LaTeX) and figures from runs -> reports/",
        description="Reads runs/<dataset>/<profile>/<run>/seed<k>/ for every run and seed given; a seed without "
                    "metrics.json is shown as missing, never as 0.")
    parser.add_argument("--params", type=Path, help="take dataset, profile, runs and seeds from the pipeline's "
                                                    "params.yaml (what the DVC stage does)")
    parser.add_argument("--dataset", help="dataset name, e.g. vaihingen or synthetic")
    parser.add_argument("--profile", help="training profile the runs used, e.g. paper or smoke")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="folder holding <dataset>/ (default runs)")
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared"),
                        help="prepared data, for the qualitative mosaic (default data/prepared)")
    parser.add_argument("--params-section", metavar="KEY",
                        help="with --params: take profile, runs and seeds from this section of it (e.g. smoke, "
                             "the pipeline's smoke pass); dataset stays the top-level one")
    parser.add_argument("--out", type=Path, help="output folder (default reports/<dataset>/<profile>)")
    parser.add_argument("--index", type=Path, metavar="ROOT",
                        help="also rewrite ROOT/README.md, linking every ROOT/<dataset>/<profile>/ report")
    parser.add_argument("--mosaic-runs", nargs="+", metavar="RUN",
                        help="the mosaic's prediction columns (default: MS2MNet full and the baselines)")
    parser.add_argument("--mosaic-errors", action="store_true", help="tint wrong pixels in the mosaic")
    parser.add_argument("--runs", nargs="+", help="run names, e.g. ms2mnet-full ms2mnet-no_dfe fusenet")
    parser.add_argument("--seeds", type=int, nargs="+", help="expected seeds, e.g. 0 1 2")
    parser.add_argument("--scaling", type=Path, help="rows of `ms2mnet bench scaling --out FILE.json` "
                                                     "(without it the scaling figure is skipped)")
    parser.add_argument("--references", type=Path, help="folder of <dataset>.yaml files with the published numbers "
                                                        "(default: the suite's conf/references)")
    parser.add_argument("--margin", type=float, default=1.0,
                        help="equivalence margin of the verdicts, in points (default 1.0; docs/reports.md)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="render from a checkout with uncommitted changes (the README then says so)")
    parser.add_argument("--allow-empty", action="store_true",
                        help="write the report even if no run has metrics and it replaces an existing report")
    parser.set_defaults(func=report_command)


def from_params(path: Path, section: str | None = None) -> tuple[str, str, list[str], list[int]]:
    """dataset, profile, run names and seeds of the DVC pipeline's params.yaml (profile, runs and seeds
    from `section` when given)."""
    import yaml

    params = yaml.safe_load(path.read_text()) or {}
    part = params.get(section) if section else params
    if section and not isinstance(part, dict):
        raise ValueError(f"{path}: no section {section!r}; expected a mapping with profile, runs and seeds")
    missing = [key for key in ("profile", "runs", "seeds") if key not in part] + \
        ([] if "dataset" in params else ["dataset"])
    if missing:
        raise ValueError(f"{path}: keys {missing} missing{f' in {section}' if section else ''}; expected dataset, "
                         "profile, runs and seeds")
    return (params["dataset"], str(part["profile"]), [str(r) for r in part["runs"]],
            [int(s) for s in part["seeds"]])


def preface(profile: str, params: Path | None, section: str | None) -> list[str]:
    """What this report's runs are, and where the pipeline's other pass is reported."""
    import yaml

    from ms2mnet.report.index import about

    lines = [f"**Profile `{profile}`: {about(profile)}.**", ""]
    pipeline = yaml.safe_load(params.read_text()) or {} if params else {}
    other = pipeline.get("profile") if section else (pipeline.get("smoke") or {}).get("profile")
    if other and other != profile:
        others = pipeline["runs"] if section else pipeline["smoke"]["runs"]
        kind = "Trained to learn" if section else "Only smoke-tested"
        lines += [f"{kind} in the same pipeline (profile `{other}`, [its report](../{other}/README.md)): "
                  + ", ".join(f"`{r}`" for r in others) + ".", ""]
    return lines


def report_command(args: argparse.Namespace) -> int:
    from ms2mnet.report.index import write_index
    from ms2mnet.report.render import render_report

    if args.params:
        args.dataset, args.profile, args.runs, args.seeds = from_params(args.params, args.params_section)
    elif args.params_section:
        raise ValueError("--params-section needs --params")
    if not (args.dataset and args.profile and args.runs and args.seeds):
        raise ValueError("give --params params.yaml, or all of --dataset, --profile, --runs and --seeds")
    out = args.out or Path("reports") / args.dataset / args.profile

    summary = render_report(args.dataset, args.runs_dir, args.prepared, out, args.runs, args.seeds,
                            args.scaling, profile=args.profile, allow_empty=args.allow_empty,
                            references=args.references, margin=args.margin, allow_dirty=args.allow_dirty,
                            mosaic_runs=args.mosaic_runs, mosaic_errors=args.mosaic_errors,
                            preface=preface(args.profile, args.params, args.params_section))
    if args.index:
        write_index(args.index)
    drawn = [name for name, path in summary["figures"].items() if path]
    print(f"{out / 'README.md'}: {len(args.runs)} runs x {len(args.seeds)} seeds of {args.dataset} "
          f"({args.profile} profile), "
          f"{len(summary['missing'])} missing; figures: {', '.join(drawn) or 'none'}")
    for note in summary["notes"]:
        print(f"  note: {note}")
    return 0

"""`ms2mnet weights list|fetch [MODEL...]`: the pretrained weights files the models declare."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)
TABLE_START, TABLE_END = "<!-- weights-table:start -->", "<!-- weights-table:end -->"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="list or download the pretrained weights files models declare")
    actions = parser.add_subparsers(dest="action", required=True)
    for name, helptext in (("list", "per model and file: present / missing / wrong hash, source and size"),
                           ("fetch", "download what the models need (resumable, sha256-checked)")):
        p = actions.add_parser(name, help=helptext)
        p.add_argument("models", nargs="*", metavar="MODEL",
                       help="model or run names (default: every run in --params)")
        p.add_argument("--dir", type=Path, default=Path("weights"), help="the weights folder (paths.weights; "
                       "default weights)")
        p.add_argument("--params", type=Path, default=Path("params.yaml"),
                       help="the DVC params file whose runs are the default (default params.yaml)")
        p.add_argument("--profile", default=None, help="only the models this profile starts from weights "
                       "(e.g. paper; smoke needs none); default: every named model")
        p.set_defaults(func=_list if name == "list" else _fetch)
    p = actions.add_parser("table", help="the runbook's weights table, generated from the registrations")
    p.add_argument("--update", type=Path, metavar="FILE",
                   help=f"write it into FILE between {TABLE_START} and {TABLE_END} (docs/reproduce.md)")
    p.set_defaults(func=_table)


def models_of(args: argparse.Namespace) -> list[str]:
    """Model names from the command line, or from params.yaml's runs and smoke.runs; with --profile, only
    those whose runs start from weights (params.yaml's smoke runs under its smoke.profile)."""
    from ms2mnet.models import parse_run

    named = [(name, args.profile) for name in args.models]
    if not named:
        import yaml

        if not args.params.is_file():
            raise FileNotFoundError(f"{args.params} not found: name the models (ms2mnet models lists them) "
                                    "or pass --params")
        params = yaml.safe_load(args.params.read_text()) or {}
        smoke = params.get("smoke") or {}
        named = [(str(run), args.profile) for run in params.get("runs", [])]
        named += [(str(run), smoke.get("profile") if args.profile else None) for run in smoke.get("runs", [])]
    models = {}
    for name, profile in named:
        model = name.partition("-")[0]
        import_module_of(model)     # a model defined outside the suite registers when imported, as in a run
        parse_run(name)             # refuses an unknown model or variant, naming the valid ones
        if profile is None or needs_weights(model, profile):
            models[model] = None
    return list(models)


def import_module_of(model: str) -> None:
    """Import the module that conf/model/<model>.yaml names in `module:`, if any."""
    from ms2mnet.app import CONF_DIR, compose_config
    from ms2mnet.models import import_model_module

    if (CONF_DIR / "model" / f"{model}.yaml").is_file():
        import_model_module(compose_config(f"model={model}").model.get("module"))


def needs_weights(model: str, profile: str) -> bool:
    """Does a run of `model` under `profile` start from weights? The run's own resolution decides."""
    from ms2mnet.app import compose_config
    from ms2mnet.experiment import wants_pretrained

    return wants_pretrained(compose_config(f"model={model}", f"profile={profile}"))


def _size(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.1f} MiB"


def _list(args: argparse.Namespace) -> int:
    from ms2mnet.models import get_model

    from ms2mnet.weights import address, check

    for model in models_of(args):
        decls = get_model(model).weights
        if not decls:
            print(f"{model}: declares no pretrained weights")
        for decl in decls:
            state = check(decl, args.dir)
            where = address(decl) if state.status != "present" else decl.source
            detail = f" ({state.detail})" if state.detail else ""
            print(f"{model:<11} {decl.file:<46} {state.status + detail:<12} {_size(state.size):>10}  {where}")
    return 0


def weights_table() -> str:
    """Markdown: per model and declared file, what it initialises, where it comes from, its hash and DSM rule."""
    from ms2mnet.models import get_model, shipped_models

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| model | file | initialises | source | download | format | sha256 | DSM stem | note |",
             "|" + "---|" * 9]
    for name in sorted(shipped_models(), key=lambda name: (name != "ms2mnet", name)):   # not import order
        entry = get_model(name)
        for decl in entry.weights:
            digest = ("not published: the file's tensors are checked" if not decl.sha256 else
                      f"`{decl.sha256}` (full)" if len(decl.sha256) == 64 else
                      f"starts with `{decl.sha256}` (from the file name)")
            download = f"<{decl.url}>" if decl.url else cell(decl.manual)
            lines.append("| " + " | ".join([entry.label, f"`{decl.file}`", cell(decl.initialises), cell(decl.source),
                                            download, cell(decl.format), digest, cell(decl.dsm_stem or "no DSM input"),
                                            cell(decl.note) or "–"]) + " |")
    return "\n".join(lines)


def _table(args: argparse.Namespace) -> int:
    from ms2mnet.cli.models import replace_between_markers

    table = weights_table()
    print(table)
    if args.update:
        replace_between_markers(args.update, table, TABLE_START, TABLE_END)
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from ms2mnet.data.download import DownloadError
    from ms2mnet.models import get_model

    from ms2mnet.weights import WeightsError, address
    from ms2mnet.weights.fetch import fetch_file

    failed, done = 0, set()
    args.dir.mkdir(parents=True, exist_ok=True)   # the DVC stage's output, also where nothing is needed
    for model in models_of(args):
        for decl in get_model(model).weights:
            if decl.file in done:
                continue
            done.add(decl.file)
            try:
                state = fetch_file(decl, args.dir)
            except (WeightsError, DownloadError, OSError) as err:
                failed += 1
                where = "" if address(decl) in str(err) else f" Get it from {address(decl)}"
                print(f"{decl.file} not fetched: {err}{where}")
                continue
            print(f"{state.path}: {state.status}, sha256 {state.sha256}")
    if failed:
        log.error("%d weights file(s) missing; see the lines above", failed)
    return 1 if failed else 0

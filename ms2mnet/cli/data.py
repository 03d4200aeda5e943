"""`ms2mnet fetch` and `ms2mnet prepare`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ms2mnet.data.dsm import SCALINGS
from ms2mnet.data.specs import DATASETS, DataError


def _tile_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEIGHTxWIDTH, e.g. 2494x2064") from None
    return h, w


def _urls(pairs: list[str]) -> dict[str, str]:
    urls = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not url:
            raise DataError(f"--url {pair!r}: expected ARCHIVE=URL, e.g. Vaihingen.zip=https://...")
        urls[name] = url
    return urls


def _fetch(args: argparse.Namespace) -> int:
    from ms2mnet.data.fetch import fetch
    options = {}
    if args.dataset.startswith("synthetic"):
        options = {"seed": args.seed or 0, "tiles": args.tiles}
        if args.tile_size:
            options["tile_size"] = args.tile_size
    elif args.tiles is not None or args.tile_size or args.seed is not None:
        raise DataError("--seed, --tiles and --tile-size apply to the synthetic datasets only")
    paths = fetch(args.dataset, args.raw, urls=_urls(args.url), verify=not args.no_verify, **options)
    print(f"{args.dataset}: {len(paths)} archives ready in {args.raw / args.dataset}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from ms2mnet.data.prepare import prepare
    print(prepare(args.dataset, args.raw, args.out, verify=not args.no_verify,
                  dsm_scaling=args.dsm_scaling).format())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    raw = {"type": Path, "default": Path("data/raw"), "help": "raw archives root (default data/raw)"}
    no_verify = {"action": "store_true",
                 "help": "skip md5 checks (for archives re-packed by a mirror)"}

    p = subparsers.add_parser("fetch", help="get and verify a dataset's archives")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument("--raw", **raw)
    p.add_argument("--url", action="append", default=[], metavar="ARCHIVE=URL",
                   help="where to download an archive or package (repeatable): a Seafile share "
                        "link or a direct URL; else MS2MNET_<DATASET>_URL; the share's password "
                        "from MS2MNET_ISPRS_PASSWORD")
    p.add_argument("--no-verify", **no_verify)
    p.add_argument("--seed", type=int, default=None, help="synthetic: scene seed (default 0)")
    p.add_argument("--tiles", type=int, default=None, help="synthetic: number of tiles (default all)")
    p.add_argument("--tile-size", type=_tile_size, default=None, metavar="HxW",
                   help="synthetic: tile size (default 160x192; real Vaihingen about 2494x2064)")
    p.set_defaults(func=_fetch)

    p = subparsers.add_parser("prepare", help="convert a dataset's archives to per-tile arrays")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument("--raw", **raw)
    p.add_argument("--out", type=Path, default=Path("data/prepared"),
                   help="prepared data root (default data/prepared)")
    p.add_argument("--no-verify", **no_verify)
    p.add_argument("--dsm-scaling", choices=SCALINGS, default=None,
                   help="DSM to [0, 1] per tile: minmax (default, as the authors and SSRS), "
                        "percentile_minmax (clip to the 0.1/99.9 percentiles first) or "
                        "divide_255 (Potsdam's 8-bit nDSM); recorded in meta.json")
    p.set_defaults(func=_prepare)

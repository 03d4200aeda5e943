"""`ms2mnet` command line: one subcommand per stage of the suite.

Each group of verbs is one module of this package exposing `register(subparsers)`; this file only
wires them together. The package sits on top: it imports the library (models, bench, data, engine,
report, weights) and nothing in the library imports it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

# Modules that add subcommands, in the order `--help` lists them.
COMMAND_MODULES = [
    "ms2mnet.cli.models",
    "ms2mnet.cli.bench",
    "ms2mnet.cli.data",
    "ms2mnet.cli.run",
    "ms2mnet.cli.report",
    "ms2mnet.cli.weights",
]


def build_parser() -> argparse.ArgumentParser:
    # timm's import triggers torch's deprecation notice for torch.jit.script; it is not ours to act on.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    parser = argparse.ArgumentParser(prog="ms2mnet", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError, RuntimeError) as err:
        # Expected failures (bad input, missing, unreadable or unwritable files) end with their message, not a
        # traceback.
        logging.getLogger("ms2mnet").error("%s", " ".join(str(err).split()))   # one line
        if args.verbose:
            raise
        return 2


if __name__ == "__main__":
    sys.exit(main())

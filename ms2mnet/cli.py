"""`ms2mnet` command line: one subcommand per stage of the suite.

Each subcommand lives in the module that owns its work and exposes
`register(subparsers)`; this file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

# Modules that add subcommands, in the order `--help` lists them.
COMMAND_MODULES = [
    "ms2mnet.models.cli",
    "ms2mnet.bench.cli",
    "ms2mnet.data.cli",
    "ms2mnet.engine.cli",
    "ms2mnet.report.cli",
    "ms2mnet.weights.cli",
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

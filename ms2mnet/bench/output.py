"""Writing rows of measurements as JSON or CSV, chosen by suffix, atomically (ms2mnet.io)."""

from __future__ import annotations

import csv
from pathlib import Path

from ms2mnet.io import atomic_path, write_json


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_rows(path: Path, rows: list[dict]) -> None:
    """A list of flat dicts as .json (a list) or .csv (one column per key of the first row)."""
    path = Path(path)
    if path.suffix == ".json":
        write_json(path, rows)
    elif path.suffix == ".csv":
        with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
            writer.writeheader()
            writer.writerows(rows)
    else:
        raise ValueError(f"{path}: expected a .json or .csv file name")


__all__ = ["write_json", "write_rows", "write_text"]

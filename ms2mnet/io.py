"""Atomic file and folder writes: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


_TMP_PREFIX = ".{name}.tmp-"    # + the writer's pid


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{_TMP_PREFIX.format(name=path.name)}{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporaries `atomic_path(path)` left behind when a writer was killed mid-write
    (`.<name>.tmp-<pid>`); returns what was removed."""
    path = Path(path)
    stale = sorted(path.parent.glob(f"{_TMP_PREFIX.format(name=path.name)}*"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
        log.info("removed %s, left by an interrupted write of %s", tmp, path.name)
    return stale


def require_file(path: Path, what: str) -> Path:
    """`path`, which must be an existing file (a folder or nothing there is refused, naming `what`)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory; expected the {what} file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; expected the {what}")
    return path


def require_writable(path: Path) -> Path:
    """`path`, once it is known that a file can be written there: checked before long work, not after."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory; give a file name for the output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.probe-"):
            pass
    except OSError as err:
        raise PermissionError(f"{path}: cannot write there ({err.strerror or err}); choose another output path") \
            from None
    return path


def _carry_over(old: Path, path: Path, keep: Callable[[Path], bool]) -> None:
    """Move the entries of the replaced folder `old` that `keep` names into `path`, then delete `old`."""
    for entry in old.iterdir():
        if keep(entry) and not (path / entry.name).exists():
            entry.rename(path / entry.name)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_folder(path: Path, keep: Callable[[Path], bool] = lambda p: False) -> Iterator[Path]:
    """Yield an empty hidden folder beside `path`; on success it replaces `path` as a whole (entries of the old
    folder for which `keep` is true are then moved into it), on failure it is removed and `path` stays as it
    was. A kill between the renames leaves `.<name>.old-<pid>`, which the next call finishes with or puts back."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f".{path.name}.old-*"):
        if path.exists():
            _carry_over(old, path, keep)
        else:
            old.rename(path)
    for stale in path.parent.glob(f"{_TMP_PREFIX.format(name=path.name)}*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = path.with_name(f"{_TMP_PREFIX.format(name=path.name)}{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        if old.exists():
            _carry_over(old, path, keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

"""One writer per data folder: a `.lock` file in it, held (flock) while a process writes there.

A second `fetch` or `prepare` on the same folder waits for the first one, then finds its
work done (archives present, tiles unchanged) instead of racing it for the same temporary
names. The lock is released by the kernel when a process dies, so a kill -9 leaves no
stale lock behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


@contextmanager
def exclusive(folder: Path, doing: str) -> Iterator[None]:
    """Hold `folder`/.lock; `doing` names the work, for the message while waiting."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_NAME)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("%s: another process is %s there; waiting for it to finish", folder, doing)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()

"""One writer per data folder: a `.lock` file in it, held (flock) while a process writes there.

A second `fetch` or `prepare` on the same folder waits for the first one, then finds its
work done (archives present, tiles unchanged) instead of racing it for the same temporary
names. The lock is released by the kernel when a process dies, so a kill -9 leaves no
stale lock behind.

A run folder (runs/.../seed<k>) has the same lock, taken with `wait=False`: a second run into a busy folder
is refused at once, naming the holder (recorded in `.lock.holder`), instead of waiting to continue or
overwrite what the first one trains.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
HOLDER_NAME = ".lock.holder"        # who holds the lock: pid, host, since, doing
LOCK_FILES = (LOCK_NAME, HOLDER_NAME)


class FolderBusyError(BlockingIOError):
    """Another process holds the folder's lock (and `exclusive` was told not to wait)."""


def holder(folder: Path) -> str:
    """Who last took `folder`'s lock, in words."""
    try:
        info = json.loads((folder / HOLDER_NAME).read_text())
        return f"pid {info['pid']} on {info['host']}, {info['doing']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def exclusive(folder: Path, doing: str, wait: bool = True) -> Iterator[None]:
    """Hold `folder`/.lock; `doing` names the work, for the message while waiting. `wait=False`: raise
    FolderBusyError, naming the holder, instead of waiting (and record this process as the holder)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_NAME)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise FolderBusyError(f"{folder}: in use by {holder(folder)}; wait for it to finish, or write to "
                                  "another folder (paths.runs=...)") from None
        log.warning("%s: another process is %s there; waiting for it to finish", folder, doing)
        lock.acquire()
    if not wait:    # for the message of the process it refuses
        (folder / HOLDER_NAME).write_text(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "doing": doing,
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    try:
        yield
    finally:
        lock.release()

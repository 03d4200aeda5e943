"""Archive checksums: the published md5 where one exists, else the md5 recorded at first use.

The published md5s date from 2021 and ISPRS has reissued archives since, so a file that
does not match its published md5 is not called corrupt outright: its members' own CRC-32s
are checked (every byte is read once), and if they hold, the new md5 is recorded with a
warning. A recorded md5 that no longer matches means the file changed after it was first
used: that stays an error. Entries live in data/raw/<dataset>/checksums.json, keyed by the
archive's file name, with size and mtime so that an unchanged file is not hashed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
import zlib
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from ms2mnet.io import write_json
from ms2mnet.data.specs import DataError

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"
_CHUNK = 1 << 22


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    size = path.stat().st_size
    with open(path, "rb") as f, tqdm(total=size, unit="B", unit_scale=True, leave=False,
                                     desc=f"md5 {path.name}", disable=size < 1 << 28) as bar:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def zip_crc_problem(path: Path) -> str | None:
    """None if every member of the zip decompresses and matches its CRC-32, else what failed."""
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                try:
                    with zf.open(info) as member:
                        while member.read(_CHUNK):
                            pass
                except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as err:
                    return f"member {info.filename!r}: {err}"
    except (zipfile.BadZipFile, OSError) as err:
        return f"not a readable zip ({err})"
    return None


def load_checksums(raw_dir: Path) -> dict[str, dict]:
    path = raw_dir / CHECKSUMS
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise DataError(f"{path}: not valid JSON ({err}). Delete it: the md5s are recorded "
                        "again at the next prepare.") from err


def save_checksums(raw_dir: Path, entries: dict[str, dict]) -> None:
    write_json(raw_dir / CHECKSUMS, dict(sorted(entries.items())))


def checksum_entry(path: Path, md5: str, **extra) -> dict:
    stat = path.stat()
    return {"md5": md5, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, **extra}


def _unchanged(path: Path, entry: dict | None) -> bool:
    """The file is the one whose md5 was computed before (same size and mtime): skip hashing."""
    if not entry:
        return False
    stat = path.stat()
    return entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns


def _check_one(path: Path, published: str | None, entry: dict | None,
               warn: Callable[[str], None]) -> dict | None:
    """The new checksums.json entry for `path`, None if nothing changed; raises on corruption."""
    if published is None and entry is None:
        return None                            # recorded after the first successful prepare
    unchanged = _unchanged(path, entry)
    found = entry["md5"] if unchanged else md5_of(path)
    if published is None:
        if found != entry["md5"]:
            raise DataError(f"{path}: md5 is {found}, expected {entry['md5']} (recorded in "
                            f"{path.parent / CHECKSUMS} at the first prepare; the file changed "
                            "since). The archive is corrupt or was replaced: download it again; "
                            "to accept the new file, delete its entry there or pass --no-verify.")
        return None if unchanged else checksum_entry(path, found)
    if found == published:
        return None if unchanged else checksum_entry(path, found)
    if unchanged and entry.get("crc_checked"):     # accepted before: said once, not every run
        log.info("%s: md5 differs from the published one; accepted earlier after a CRC check", path)
        return None
    problem = zip_crc_problem(path)
    if problem is not None:
        raise DataError(f"{path}: md5 is {found}, not the published {published}, and the "
                        f"zip's own CRC check fails ({problem}). The archive is corrupt: "
                        "download it again.")
    warn(f"{path.name}: md5 {found} differs from the published {published} (published in 2021; "
         "ISPRS has reissued archives since); every member's CRC-32 checks out, so the new md5 "
         f"is recorded in {path.parent / CHECKSUMS}")
    return checksum_entry(path, found, crc_checked=True, published_md5=published)


def verify_archives(paths: dict[str, Path], published: Callable[[str], str | None]) -> list[str]:
    """Check each archive's md5 (policy in the module doc); returns the warnings."""
    warnings: list[str] = []
    if not paths:
        return warnings
    raw_dir = next(iter(paths.values())).parent
    entries = load_checksums(raw_dir)
    changed = False
    for path in paths.values():
        new = _check_one(path, published(path.name), entries.get(path.name), warnings.append)
        if new is not None:
            entries[path.name] = new
            changed = True
    if changed:
        save_checksums(raw_dir, entries)
    return warnings


def record_checksums(paths: dict[str, Path], published: Callable[[str], str | None]) -> None:
    """After a successful prepare: record the md5 of archives that have no reference yet."""
    if not paths:
        return
    raw_dir = next(iter(paths.values())).parent
    entries = load_checksums(raw_dir)
    missing = [p for p in paths.values() if p.name not in entries and published(p.name) is None]
    for path in missing:
        entries[path.name] = checksum_entry(path, md5_of(path))
        log.info("recorded md5 %s of %s", entries[path.name]["md5"], path)
    if missing:
        save_checksums(raw_dir, entries)

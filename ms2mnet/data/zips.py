"""Safe access to zip archives: open with a clear error, find members, refuse escaping paths."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

from ms2mnet.data.specs import DataError


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not a readable zip archive ({err}); expected a complete zip. "
                        "The file is truncated or corrupt: download it again.") from err


def check_member_path(archive: Path, name: str) -> None:
    """Refuse a member whose path would land outside the folder it is extracted to."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
        raise DataError(f"{archive}: member {name!r} has a path that escapes the target folder; "
                        "refusing to extract it. The archive is malformed or malicious: "
                        "download it again from the official source.")


def find_member(zf: zipfile.ZipFile, archive: Path, path: str) -> zipfile.ZipInfo:
    """The member at `path`, also under a leading folder (mirrors and packages add one)."""
    exact, nested = None, []
    for info in zf.infolist():
        name = info.filename.replace("\\", "/")
        if name == path:
            exact = info
        elif name.endswith("/" + path):
            nested.append(info)
    found = exact or (nested[0] if len(nested) == 1 else None)
    if found is None:
        what = f"{len(nested)} members ending in it" if nested else "no such member"
        raise DataError(f"{archive}: expected member {path!r}, found {what}. The archive is "
                        "incomplete or not the official one: download it again.")
    check_member_path(archive, found.filename)
    return found


def read_member(zf: zipfile.ZipFile, archive: Path, info: zipfile.ZipInfo) -> bytes:
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError) as err:   # CRC mismatch, truncated data
        raise DataError(f"{archive}: member {info.filename!r} cannot be read ({err}). "
                        "The archive is corrupt: download it again.") from err


def extract_member(zf: zipfile.ZipFile, archive: Path, info: zipfile.ZipInfo, dest: Path) -> Path:
    """Extract one member to `dest` via a temporary name, so that `dest` is whole or absent."""
    check_member_path(archive, info.filename)
    tmp = dest.with_name(dest.name + ".extracting")
    try:
        with zf.open(info) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{archive}: member {info.filename!r} cannot be extracted ({err}). "
                        "The archive is corrupt: download it again.") from err
    tmp.replace(dest)
    return dest

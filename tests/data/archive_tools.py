"""Helpers for tests that break archives on purpose."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import tifffile


def rewrite_member(archive: Path, member: str, data: bytes | None, new_name: str | None = None,
                   stored: bool = False) -> None:
    """Replace (or, with data None, drop) one member of a zip, keeping the others; `stored`
    writes it uncompressed (so that flipping one of its bytes breaks only its CRC)."""
    with zipfile.ZipFile(archive) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    assert member in dict(members), f"{member} not in {archive}"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in members:
            if name != member:
                zf.writestr(name, payload)
            elif data is not None:
                zf.writestr(new_name or name, data,
                            compress_type=zipfile.ZIP_STORED if stored else None)


def read_member(archive: Path, member: str) -> bytes:
    with zipfile.ZipFile(archive) as zf:
        return zf.read(member)


def tiff_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, photometric="rgb" if array.ndim == 3 and array.shape[2] == 3
                     else "minisblack")
    return buf.getvalue()


def snapshot(folder: Path) -> dict[str, str]:
    """md5 of every file under `folder`, by relative path (hidden folders included)."""
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}

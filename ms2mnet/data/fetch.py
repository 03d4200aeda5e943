"""Get a dataset's archives into data/raw/<dataset>/ and verify them.

Archives the user already put there are used as they are; otherwise they are
downloaded from URLs given by the caller or the environment (with resume). The
outer packages (Vaihingen.zip, Potsdam.zip) are accepted too: the inner archives
are extracted from them. Checksums: the published md5 where PROTOCOL.md lists one;
for the others the md5 is recorded in checksums.json at the first successful
prepare and verified from then on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ms2mnet.data.specs import (DATASETS, ISPRS_PAGE, MIRRORS, DatasetSpec, DataError,
                                MissingDataError, get_spec)
from ms2mnet.data.zips import extract_member, find_member, open_zip
from ms2mnet.io import write_json

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"
PASSWORD_ENV = "MS2MNET_ISPRS_PASSWORD"
USER_ENV = "MS2MNET_ISPRS_USER"


def url_env(dataset: str) -> str:
    return f"MS2MNET_{dataset.upper()}_URL"


class DownloadError(RuntimeError):
    """A download failed; the message says how to retry."""


# ---------------------------------------------------------------- checksums

def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    size = path.stat().st_size
    with open(path, "rb") as f, tqdm(total=size, unit="B", unit_scale=True, leave=False,
                                     desc=f"md5 {path.name}", disable=size < 1 << 28) as bar:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def load_checksums(raw_dir: Path) -> dict[str, dict]:
    path = raw_dir / CHECKSUMS
    return json.loads(path.read_text()) if path.is_file() else {}


def save_checksums(raw_dir: Path, entries: dict[str, dict]) -> None:
    write_json(raw_dir / CHECKSUMS, dict(sorted(entries.items())))


def checksum_entry(path: Path, md5: str) -> dict:
    stat = path.stat()
    return {"md5": md5, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _unchanged(path: Path, entry: dict | None) -> bool:
    """The file is the one whose md5 was computed before (same size and mtime): skip hashing."""
    if not entry:
        return False
    stat = path.stat()
    return entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns


def verify_archives(spec: DatasetSpec, paths: dict[str, Path]) -> None:
    """Check md5s (published, else recorded); raise DataError on a mismatch."""
    if not paths:
        return
    raw_dir = next(iter(paths.values())).parent
    entries = load_checksums(raw_dir)
    changed = False
    for name, path in paths.items():
        published, entry = spec.archive(name).md5, entries.get(name)
        expected = published or (entry or {}).get("md5")
        if expected is None or (_unchanged(path, entry) and entry["md5"] == expected):
            continue
        found = md5_of(path)
        if found != expected:
            origin = (f"recorded in {raw_dir / CHECKSUMS} at the first prepare; the file changed "
                      "since" if published is None else "published for the official archive")
            raise DataError(f"{path}: md5 is {found}, expected {expected} ({origin}). The archive "
                            "is corrupt or re-packed: download it again, or pass --no-verify if "
                            "it comes from a mirror.")
        entries[name] = checksum_entry(path, found)
        changed = True
    if changed:
        save_checksums(raw_dir, entries)


def record_checksums(spec: DatasetSpec, paths: dict[str, Path]) -> None:
    """After a successful prepare: record the md5 of archives that have no reference yet."""
    if not paths:
        return
    raw_dir = next(iter(paths.values())).parent
    entries = load_checksums(raw_dir)
    missing = {n: p for n, p in paths.items() if n not in entries and spec.archive(n).md5 is None}
    for name, path in missing.items():
        entries[name] = checksum_entry(path, md5_of(path))
        log.info("recorded md5 %s of %s", entries[name]["md5"], path)
    if missing:
        save_checksums(raw_dir, entries)


# ---------------------------------------------------------------- locating

def _missing_message(spec: DatasetSpec, raw_dir: Path, missing: list[str]) -> str:
    return (f"{spec.name}: expected the archives {', '.join(missing)} (or the package "
            f"{spec.package} that contains them) in {raw_dir}/, found none there and no URL to "
            f"download them from. Get them from the ISPRS benchmark page, {ISPRS_PAGE}; the "
            f"file share needs the password printed there. Either put the files in {raw_dir}/, "
            f"or set {url_env(spec.name)} to the package URL (or to a folder URL ending in '/') "
            f"and {PASSWORD_ENV} to the password, then run `ms2mnet fetch {spec.name}` again. "
            f"Mirrors: {MIRRORS}.")


def _extract_from_package(spec: DatasetSpec, raw_dir: Path, names: list[str]) -> None:
    """Extract the inner archives `names` from the outer package, only those."""
    package = raw_dir / spec.package
    with open_zip(package) as zf:
        for name in names:
            info = find_member(zf, package, name)
            log.info("extracting %s from %s", name, package)
            extract_member(zf, package, info, raw_dir / name)


def locate_archives(spec: DatasetSpec, raw_dir: Path, verify: bool = True) -> dict[str, Path]:
    """Paths of the dataset's inner archives, extracted from the package if needed, verified."""
    paths = {a.name: raw_dir / a.name for a in spec.archives}
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing and (raw_dir / spec.package).is_file():
        _extract_from_package(spec, raw_dir, missing)
        missing = []
    if missing:
        raise MissingDataError(_missing_message(spec, raw_dir, missing))
    if verify:
        verify_archives(spec, paths)
    return paths


# ---------------------------------------------------------------- downloading

def download(url: str, dest: Path, auth: tuple[str, str] | None = None) -> Path:
    """Download `url` to `dest`, resuming a partial `dest.part` with an HTTP Range request."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url)
    if have:
        request.add_header("Range", f"bytes={have}-")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    retry = f"Check the URL and the password ({PASSWORD_ENV}), then run fetch again"
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:      # nothing left to fetch: the part file is complete
            part.replace(dest)
            return dest
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}, expected the file. {retry}.") from err
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: cannot connect ({err}). {retry}; a partial download "
                            "resumes where it stopped.") from err
    with response:
        if have and response.status != 206:   # the server ignored Range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as out, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name) as bar:
            try:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
            except OSError as err:
                raise DownloadError(f"{url}: connection lost after {out.tell()} bytes ({err}). "
                                    "Run fetch again to resume.") from err
    got = part.stat().st_size
    if total is not None and got != total:
        raise DownloadError(f"{url}: got {got} of {total} bytes. Run fetch again to resume.")
    part.replace(dest)
    return dest


def urls_from_env(spec: DatasetSpec) -> dict[str, str]:
    """MS2MNET_<DATASET>_URL: the package URL, or a folder URL ('/' at the end) of the archives."""
    value = os.environ.get(url_env(spec.name), "").strip()
    if not value:
        return {}
    if value.endswith("/"):
        return {a.name: value + a.name for a in spec.archives}
    return {spec.package: value}


def _download_missing(spec: DatasetSpec, raw_dir: Path, urls: dict[str, str]) -> None:
    present = {a.name for a in spec.archives if (raw_dir / a.name).is_file()}
    if len(present) == len(spec.archives) or (raw_dir / spec.package).is_file():
        return
    password = os.environ.get(PASSWORD_ENV)
    auth = (os.environ.get(USER_ENV, ""), password) if password else None
    missing = [a.name for a in spec.archives if a.name not in present]
    if all(name in urls for name in missing):
        wanted = missing
    elif spec.package in urls:
        wanted = [spec.package]
    else:
        return                               # locate_archives says what is missing
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        log.info("downloading %s", name)
        download(urls[name], raw_dir / name, auth)


def fetch(dataset: str, raw_root: Path = Path("data/raw"), urls: dict[str, str] | None = None,
          verify: bool = True, **synthetic_options) -> dict[str, Path]:
    """Archives of `dataset` in raw_root/<dataset>/, downloaded or generated if needed."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    raw_dir = Path(raw_root) / dataset
    if dataset.startswith("synthetic"):
        from ms2mnet.data.synthetic import write_dataset   # heavy only when used
        write_dataset(dataset, raw_dir, **synthetic_options)
    else:
        spec = get_spec(dataset, raw_dir)
        _download_missing(spec, raw_dir, {**urls_from_env(spec), **(urls or {})})
    spec = get_spec(dataset, raw_dir)
    paths = locate_archives(spec, raw_dir, verify=verify)
    log.info("%s: %d archives in %s%s", dataset, len(paths), raw_dir, "" if verify else
             " (not verified: --no-verify)")
    return paths

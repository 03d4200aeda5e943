"""Get a dataset's archives into data/raw/<dataset>/ and verify them.

Archives the user already put there are used as they are; otherwise they are downloaded
from URLs given by the caller or the environment (`download`: resumable, zips only;
Seafile share links through their password form, `seafile`). The outer packages
(Vaihingen.zip, Potsdam.zip) are accepted too: only the needed inner archives are
extracted from them. Where an archive is absent but its fallback is there (Potsdam's
5_Labels_all*.zip for the participants' label archives), the fallback is used with a
warning. Checksums: see `checksums`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ms2mnet.data.checksums import verify_archives
from ms2mnet.data.download import download
from ms2mnet.data.locks import exclusive
from ms2mnet.data.seafile import PASSWORD_ENV, ShareLink, is_file_share
from ms2mnet.data.specs import (DATASETS, ISPRS_PAGE, MIRRORS, DatasetSpec, DataError,
                                MissingDataError, get_spec)
from ms2mnet.data.zips import extract_member, find_member, open_zip

log = logging.getLogger(__name__)

SHARES = {"vaihingen": "https://seafile.projekt.uni-hannover.de/f/6a06a837b1f349cfa749/",
          "potsdam": "https://seafile.projekt.uni-hannover.de/f/429be50cc79d423ab6c4/"}


def url_env(dataset: str) -> str:
    return f"MS2MNET_{dataset.upper()}_URL"


@dataclass
class Located:
    """The archive file to read for each archive name of the spec, and what to warn about."""

    paths: dict[str, Path]
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- locating

def _missing_message(spec: DatasetSpec, raw_dir: Path, missing: list[str]) -> str:
    share = f" (at present {SHARES[spec.name]})" if spec.name in SHARES else ""
    return (f"{spec.name}: expected the archives {', '.join(missing)} (or the package "
            f"{spec.package} that contains them) in {raw_dir}/, found none there and no URL to "
            f"download them from. Get them from the ISPRS benchmark page, {ISPRS_PAGE}, whose "
            f"file share{share} needs the password printed there. Either put the files in "
            f"{raw_dir}/, or set {url_env(spec.name)} to the share link (or a direct URL of "
            f"{spec.package}) and {PASSWORD_ENV} to the password, then run `ms2mnet fetch "
            f"{spec.name}` again. Steps: docs/data.md. Mirrors: {MIRRORS}.")


def _choose(spec: DatasetSpec, present: set[str]) -> tuple[dict[str, str], list[str]]:
    """File name to read for each archive (itself, else its fallback), and the missing ones."""
    chosen, missing = {}, []
    for archive in spec.archives:
        if archive.name in present:
            chosen[archive.name] = archive.name
        elif archive.fallback is not None and archive.fallback in present:
            chosen[archive.name] = archive.fallback
        else:
            missing.append(archive.name)
    return chosen, missing


def _package_members(spec: DatasetSpec, package: Path) -> set[str]:
    names = [a.name for a in spec.archives] + [a.fallback for a in spec.archives if a.fallback]
    with open_zip(package) as zf:
        listed = {info.filename.replace("\\", "/").rpartition("/")[2] for info in zf.infolist()}
    return {n for n in names if n in listed}


def _extract_from_package(spec: DatasetSpec, raw_dir: Path, present: set[str]) -> set[str]:
    """Extract from the outer package the archives (else their fallbacks) not yet present;
    only those. Returns the names extracted."""
    package = raw_dir / spec.package
    absent = [a for a in spec.archives if a.name not in present]
    if not absent or not package.is_file():
        return set()
    if spec.package_size is not None and package.stat().st_size != spec.package_size:
        log.warning("%s: %d bytes, the published size is %d; the inner archives are checked "
                    "as they are extracted", package, package.stat().st_size, spec.package_size)
    inside = _package_members(spec, package)
    names = {a.name if a.name in inside else a.fallback for a in absent
             if a.name in inside or (a.fallback in inside and a.fallback not in present)}
    with open_zip(package) as zf:
        for name in sorted(names):
            info = find_member(zf, package, name)
            log.info("extracting %s from %s", name, package)
            extract_member(zf, package, info, raw_dir / name)
    return names


def locate_archives(spec: DatasetSpec, raw_dir: Path, verify: bool = True) -> Located:
    """The archives to read, extracted from the package if needed, verified (see module doc)."""
    present = {p.name for p in raw_dir.glob("*.zip")} if raw_dir.is_dir() else set()
    present |= _extract_from_package(spec, raw_dir, present)
    chosen, missing = _choose(spec, present)
    if missing:
        raise MissingDataError(_missing_message(spec, raw_dir, missing))
    located = Located({name: raw_dir / file for name, file in chosen.items()})
    for name, file in chosen.items():
        if file != name:
            located.warnings.append(
                f"{spec.name}: {name} is absent, reading {file} instead. Its labels differ from "
                f"the ones the protocol's code reads (e.g. Potsdam 4_12 is blended onto the "
                f"image there): put {name} in {raw_dir}/ for comparable numbers")
    if verify:
        located.warnings += verify_archives(located.paths, spec.published_md5)
    return located


# ---------------------------------------------------------------- downloading

def urls_from_env(spec: DatasetSpec) -> dict[str, str]:
    """MS2MNET_<DATASET>_URL: a share link or URL of the package, or a folder URL ('/' at the
    end, not a Seafile share link) holding the inner archives."""
    value = os.environ.get(url_env(spec.name), "").strip()
    if not value:
        return {}
    if value.endswith("/") and not is_file_share(value):
        return {a.name: value + a.name for a in spec.archives}
    return {spec.package: value}


def _download_missing(spec: DatasetSpec, raw_dir: Path, urls: dict[str, str]) -> None:
    present = {p.name for p in raw_dir.glob("*.zip")} if raw_dir.is_dir() else set()
    _, missing = _choose(spec, present)
    if not missing or spec.package in present:
        return
    if all(name in urls for name in missing):
        wanted = missing
    elif spec.package in urls:
        wanted = [spec.package]
    else:
        return                               # locate_archives says what is missing
    for name in wanted:
        url = urls[name]
        log.info("downloading %s from %s", name, url)
        # Read here, passed on, never stored: only the share's password form receives it.
        opener = ShareLink(url, os.environ.get(PASSWORD_ENV)).open if is_file_share(url) else None
        size = spec.package_size if name == spec.package else None
        download(url, raw_dir / name, opener, published_size=size)


def fetch(dataset: str, raw_root: Path = Path("data/raw"), urls: dict[str, str] | None = None,
          verify: bool = True, **synthetic_options) -> dict[str, Path]:
    """Archives of `dataset` in raw_root/<dataset>/, downloaded or generated if needed."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    raw_dir = Path(raw_root) / dataset
    with exclusive(raw_dir, "fetching"):
        if dataset.startswith("synthetic"):
            from ms2mnet.data.synthetic import write_dataset   # heavy only when used
            write_dataset(dataset, raw_dir, **synthetic_options)
        else:
            _download_missing(get_spec(dataset), raw_dir, {**urls_from_env(get_spec(dataset)),
                                                           **(urls or {})})
        located = locate_archives(get_spec(dataset, raw_dir), raw_dir, verify=verify)
    for line in located.warnings:
        log.warning("%s", line)
    log.info("%s: %d archives in %s%s", dataset, len(located.paths), raw_dir, "" if verify else
             " (not verified: --no-verify)")
    return located.paths

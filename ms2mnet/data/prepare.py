"""Archives -> one folder of arrays per tile, plus a manifest: data/prepared/<dataset>/.

Per tile: image.npy (uint8 HxWx3), dsm.npy (float16 HxW in [0, 1], scaled as `dsm` says),
label.npy and label_eroded.npy (uint8 class index, palette.IGNORE = ignore) and meta.json.
Members are read from the archives in memory, never extracted wholesale. A tile is
written to a temporary folder and renamed into place, so a tile folder is always
complete; a tile whose sources (member CRC and size), settings (`options` in its meta.json)
and arrays (complete .npy files) did not change is skipped. All archive-level checks run
before the first write, so bad archives leave the prepared data as it was. Before the first
tile changes the manifest is removed, and it is written last, recording each tile's
signature: an interrupted prepare (say with another DSM scaling) never leaves a manifest
that describes a mix of tiles (`TileStore.check` refuses one). One prepare at a time
writes to an output folder (`locks`): a second one waits, then finds the tiles done.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from tqdm import tqdm

from ms2mnet.data.checksums import record_checksums
from ms2mnet.data.dsm import check_scaling, scale_dsm
from ms2mnet.data.fetch import locate_archives
from ms2mnet.data.locks import exclusive
from ms2mnet.data.palette import CLASSES, IGNORE, PALETTE, class_histogram, colour_to_class
from ms2mnet.data.specs import (MAX_SIZE_MISMATCH, PREPARE_VERSION, PROTOCOL, DatasetSpec,
                                DataError, get_spec)
from ms2mnet.data.zips import find_member, open_zip, read_member
from ms2mnet.io import write_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
ARRAYS = ("image", "dsm", "label", "label_eroded")
_TMP, _OLD = ".tmp-", ".old-"       # hidden names: never taken for a tile


@dataclass
class Source:
    archive: Path
    zf: zipfile.ZipFile
    info: zipfile.ZipInfo

    @property
    def where(self) -> str:
        return f"{self.archive}:{self.info.filename}"


@dataclass
class Summary:
    dataset: str
    out_dir: Path
    prepared: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    pixels: dict[str, int] = field(default_factory=lambda: {"train": 0, "test": 0})
    classes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def format(self) -> str:
        total = sum(self.classes.values()) or 1
        shares = "  ".join(f"{k} {100 * v / total:.1f}%" for k, v in self.classes.items())
        lines = [f"{self.dataset}: {len(self.prepared) + len(self.skipped)} tiles in {self.out_dir} "
                 f"({len(self.prepared)} prepared, {len(self.skipped)} unchanged)",
                 f"  pixels: train {self.pixels['train']:,}, test {self.pixels['test']:,}",
                 f"  classes (full labels, all tiles): {shares}",
                 f"  warnings: {len(self.warnings)}"]
        lines += [f"    - {w}" for w in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------- decoding

def _decode_tiff(data: bytes, where: str) -> np.ndarray:
    try:
        array = tifffile.imread(io.BytesIO(data))
    except Exception as err:       # tifffile raises several types for truncated or bad files
        if "imagecodecs" in str(err):      # a compression tifffile cannot decode by itself
            raise DataError(f"{where}: {err}; expected a TIFF that tifffile can decode. "
                            "Install it: pip install imagecodecs.") from err
        raise DataError(f"{where}: cannot be read as TIFF ({err}); expected a complete TIFF. "
                        "The file is truncated or corrupt: download the archive again.") from err
    # Planar (bands first) files hold the same pixels: use bands last everywhere.
    if array.ndim == 3 and array.shape[0] <= 4 < array.shape[2]:
        array = np.moveaxis(array, 0, -1)
    return array


def _decode_jpeg(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            array = np.asarray(img)
    except Exception as err:
        raise DataError(f"{where}: cannot be read as JPEG ({err}); expected a complete 8-bit "
                        "nDSM. The file is truncated or corrupt: download the archive again.") from err
    return array[..., 0] if array.ndim == 3 else array


def _expect(array: np.ndarray, where: str, bands: int | None, dtypes: str, what: str) -> np.ndarray:
    found_bands = None if array.ndim == 2 else array.shape[2]
    if array.ndim == 3 and array.shape[2] == 1 and bands is None:
        array, found_bands = array[..., 0], None
    if array.ndim not in (2, 3) or found_bands != bands or array.dtype.kind not in dtypes:
        shape = f"{found_bands or 1} band(s) of {array.dtype}, shape {array.shape}"
        raise DataError(f"{where}: expected {what}, found {shape}. The file is not the "
                        "dataset's: check the archive and download it again.")
    return array


def _decode_inputs(spec: DatasetSpec, image_data: bytes, dsm_data: bytes, where_image: str,
                   where_dsm: str) -> tuple[np.ndarray, np.ndarray]:
    image = _expect(_decode_tiff(image_data, where_image), where_image, spec.source_bands,
                    "u", f"{spec.source_bands} bands of uint8")
    if image.dtype != np.uint8:
        raise DataError(f"{where_image}: expected uint8 pixels, found {image.dtype}. "
                        "The file is not the dataset's: download the archive again.")
    if spec.dsm_format == "jpeg":
        dsm = _expect(_decode_jpeg(dsm_data, where_dsm), where_dsm, None, "u", "an 8-bit nDSM")
    else:
        dsm = _expect(_decode_tiff(dsm_data, where_dsm), where_dsm, None, "fiu", "a one-band DSM")
    return image[..., list(spec.image_bands)], dsm


def _decode(spec: DatasetSpec, raw: dict[str, bytes], where: dict[str, str]) -> dict[str, np.ndarray]:
    image, dsm = _decode_inputs(spec, raw["image"], raw["dsm"], where["image"], where["dsm"])
    labels = {role: _expect(_decode_tiff(raw[role], where[role]), where[role], 3, "u",
                            "an RGB colour label of uint8") for role in ("label", "label_eroded")}
    return {"image": image, "dsm": dsm, **labels}


def read_inputs(spec: DatasetSpec, image_path: Path, dsm_path: Path,
                dsm_scaling: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A user's own tile, read and normalised as `prepare` does for `spec`: image uint8 HxWx3 in the
    protocol's bands, DSM float16 HxW in [0, 1] (`dsm_scaling`: as the prepared data's manifest
    says; None: the dataset's default); both cropped to their common extent."""
    if dsm_scaling is not None:
        spec = replace(spec, dsm_scaling=check_scaling(dsm_scaling))
    image, dsm = _decode_inputs(spec, Path(image_path).read_bytes(), Path(dsm_path).read_bytes(),
                                str(image_path), str(dsm_path))
    h, w = _common_extent({"image": image, "dsm": dsm}, {"image": str(image_path), "dsm": str(dsm_path)})
    dsm, _ = scale_dsm(dsm[:h, :w], spec.dsm_scaling, str(dsm_path), spec.dsm_percentiles)
    return image[:h, :w], dsm


# ---------------------------------------------------------------- converting

def _common_extent(arrays: dict[str, np.ndarray], where: dict[str, str]) -> tuple[int, int]:
    shapes = {role: a.shape[:2] for role, a in arrays.items()}
    h, w = (min(s[i] for s in shapes.values()) for i in (0, 1))
    worst = max(max(s[0] - h, s[1] - w) for s in shapes.values())
    if worst > MAX_SIZE_MISMATCH:
        listing = ", ".join(f"{where[r]} {s[0]}x{s[1]}" for r, s in shapes.items())
        raise DataError(f"sizes disagree by {worst} px (at most {MAX_SIZE_MISMATCH} can be "
                        f"cropped): {listing}. The files do not belong to one tile: check the "
                        "archives and download them again.")
    return h, w


def convert_tile(spec: DatasetSpec, tile: str, sources: dict[str, Source]
                 ) -> tuple[dict[str, np.ndarray], dict, list[str]]:
    """Arrays, meta and warnings of one tile, from its source members."""
    where = {role: s.where for role, s in sources.items()}
    raw = {role: read_member(s.zf, s.archive, s.info) for role, s in sources.items()}
    arrays = _decode(spec, raw, where)
    warnings: list[str] = []
    h, w = _common_extent(arrays, where)
    crop = None
    if any(a.shape[:2] != (h, w) for a in arrays.values()):
        crop = {"to": [h, w], "from": {r: list(a.shape[:2]) for r, a in arrays.items()}}
        sizes = ", ".join(f"{r} {a.shape[0]}x{a.shape[1]}" for r, a in arrays.items())
        warnings.append(f"{tile}: sizes differ ({sizes}); cropped to the common {h}x{w}")
        arrays = {r: a[:h, :w] for r, a in arrays.items()}
    dsm, dsm_info = scale_dsm(arrays["dsm"], spec.dsm_scaling, where["dsm"], spec.dsm_percentiles)
    out = {"image": np.ascontiguousarray(arrays["image"]), "dsm": dsm}
    label_info = {}
    for role in ("label", "label_eroded"):
        out[role], report = colour_to_class(arrays[role])
        label_info[role] = report.as_dict()
        if report.off_palette:
            warnings.append(f"{tile}: {report.off_palette} off-palette pixels in {where[role]}, "
                            "mapped by thresholding at 128")
        if report.unknown:
            warnings.append(f"{tile}: {report.unknown} pixels of {where[role]} have colours that "
                            f"are no class (e.g. {report.unknown_colours[0]}); set to ignore")
    meta = {
        "tile": tile, "split": spec.split_of(tile), "dataset": spec.name, "protocol": PROTOCOL,
        "prepare_version": PREPARE_VERSION, "signature": signature(spec, sources),
        "sources": {r: {"archive": s.archive.name, "member": s.info.filename,
                        "crc32": s.info.CRC, "size": s.info.file_size,
                        "md5": hashlib.md5(raw[r]).hexdigest()} for r, s in sources.items()},
        "shape": [h, w], "crop": crop, "image_bands": spec.band_names, "options": options(spec),
        "dsm_normalisation": dsm_info, "labels": label_info,
        "class_histogram": {r: class_histogram(out[r]) for r in ("label", "label_eroded")},
        "warnings": warnings,
    }
    return out, meta, warnings


def options(spec: DatasetSpec) -> dict:
    """The prepare options that shape a tile's arrays (recorded per tile and in the manifest)."""
    return {"dsm_scaling": spec.dsm_scaling,
            "dsm_percentiles": list(spec.dsm_percentiles) if "percentile" in spec.dsm_scaling else None,
            "image_bands": list(spec.image_bands)}


def signature(spec: DatasetSpec, sources: dict[str, Source]) -> str:
    """What a prepared tile depends on: source members and the settings that shape the arrays."""
    dsm = [spec.dsm_scaling] + (list(spec.dsm_percentiles) if "percentile" in spec.dsm_scaling else [])
    key = {"version": PREPARE_VERSION, "dsm": dsm,
           "bands": spec.image_bands, "palette": PALETTE.tolist(),
           "sources": {r: [s.info.filename, s.info.CRC, s.info.file_size] for r, s in sources.items()}}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- writing

def write_tile(out_dir: Path, tile: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write into a hidden folder, then swap it in; meta.json is the last file written."""
    tmp, old, final = out_dir / f"{_TMP}{tile}", out_dir / f"{_OLD}{tile}", out_dir / tile
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", arrays[name])
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The manifest must not describe the set while its tiles change: `prepare` writes it again at the end.
    (out_dir / MANIFEST).unlink(missing_ok=True)
    if final.exists():
        final.rename(old)           # between these two renames `recover` can finish the job
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def recover(out_dir: Path) -> None:
    """Undo what an interrupted run left: drop partial folders, restore a swapped-out tile."""
    for path in out_dir.glob(f"{_TMP}*"):
        shutil.rmtree(path, ignore_errors=True)
    for old in out_dir.glob(f"{_OLD}*"):
        final = out_dir / old.name[len(_OLD):]
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.rename(final)


def _existing_meta(tile_dir: Path) -> dict | None:
    """The meta of a complete prepared tile: every array a readable .npy of the recorded shape (a truncated
    or replaced file is never taken as unchanged)."""
    try:
        meta = json.loads((tile_dir / "meta.json").read_text())
        for name in ARRAYS:
            array = np.load(tile_dir / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            if list(array.shape[:2]) != meta["shape"]:
                return None
    except (OSError, ValueError, EOFError, KeyError, TypeError):
        return None
    return meta


# ---------------------------------------------------------------- the stage

def _sources(spec: DatasetSpec, archives: dict[str, Path],
             stack: ExitStack) -> dict[str, dict[str, Source]]:
    """Every tile's source members, found before anything is written."""
    zips = {name: stack.enter_context(open_zip(path)) for name, path in archives.items()}
    return {tile: {role: Source(archives[m.archive], zips[m.archive],
                                find_member(zips[m.archive], archives[m.archive], m.path))
                   for role, m in spec.members(tile).items()}
            for tile in spec.tiles}


def _prepare_tiles(spec: DatasetSpec, sources: dict[str, dict[str, Source]], out_dir: Path,
                   summary: Summary) -> dict[str, list[int]]:
    """Write every tile whose signature changed; returns the meta of all tiles."""
    metas: dict[str, dict] = {}
    recover(out_dir)
    for tile in tqdm(spec.tiles, desc=f"prepare {spec.name}", unit="tile"):
        meta = _existing_meta(out_dir / tile)
        if meta is not None and meta.get("signature") == signature(spec, sources[tile]):
            summary.skipped.append(tile)
        else:
            arrays, meta, _ = convert_tile(spec, tile, sources[tile])
            write_tile(out_dir, tile, arrays, meta)
            summary.prepared.append(tile)
            log.debug("prepared %s", tile)
        metas[tile] = meta
        summary.warnings += meta["warnings"]
        summary.pixels[meta["split"]] += meta["shape"][0] * meta["shape"][1]
        for name, count in meta["class_histogram"]["label"].items():
            summary.classes[name] = summary.classes.get(name, 0) + count
    return metas


def prepare(dataset: str, raw_root: Path = Path("data/raw"), out_root: Path = Path("data/prepared"),
            verify: bool = True, dsm_scaling: str | None = None) -> Summary:
    """Prepare `dataset` from raw_root/<dataset>/ into out_root/<dataset>/; see the module doc.

    `dsm_scaling`: one of dsm.SCALINGS; None takes the dataset's default (plain min-max)."""
    raw_dir, out_dir = Path(raw_root) / dataset, Path(out_root) / dataset
    spec = get_spec(dataset, raw_dir)
    if dsm_scaling is not None:
        spec = replace(spec, dsm_scaling=check_scaling(dsm_scaling))
    with exclusive(raw_dir, "preparing from the archives"):
        located = locate_archives(spec, raw_dir, verify=verify)
    summary = Summary(dataset, out_dir, warnings=list(located.warnings))
    with ExitStack() as stack:
        sources = _sources(spec, located.paths, stack)
        stack.enter_context(exclusive(out_dir, "preparing"))
        metas = _prepare_tiles(spec, sources, out_dir, summary)
        with exclusive(raw_dir, "recording checksums"):
            record_checksums(located.paths, spec.published_md5)
        write_json(out_dir / MANIFEST, {
            "dataset": dataset, "protocol": PROTOCOL, "prepare_version": PREPARE_VERSION,
            "layout": spec.layout, "image_bands": spec.band_names, "classes": list(CLASSES),
            "ignore_index": IGNORE, "dsm_scaling": spec.dsm_scaling,
            "options": options(spec), "splits": {"train": list(spec.train), "test": list(spec.test)},
            "tiles": {tile: meta["shape"] for tile, meta in metas.items()},
            "signatures": {tile: meta["signature"] for tile, meta in metas.items()},
        })     # last: once every tile is in place
    for line in summary.warnings:
        log.warning("%s", line)
    return summary

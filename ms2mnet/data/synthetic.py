"""Synthetic archives in the exact layout of the ISPRS ones, from procedural scenes.

A scene has roads, buildings (raised blocks), low vegetation, trees (raised,
textured), cars on roads and clutter. Buildings and impervious surfaces share one
colour distribution, so only the height tells them apart: a model that uses the
DSM beats one that does not, which checks the multimodal wiring on data anyone
can make. Everything is deterministic in (seed, tile name); archives are written
with fixed timestamps, so the same parameters give byte-identical zips.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from tqdm import tqdm

from ms2mnet.data.checksums import checksum_entry, load_checksums, md5_of, save_checksums
from ms2mnet.data.palette import IGNORE, class_to_colour
from ms2mnet.data.specs import SYNTHETIC_INFO, DatasetSpec, DataError, get_spec

log = logging.getLogger(__name__)

DEFAULT_TILE_SIZE = (160, 192)          # height, width: small enough for the smoke profile
REAL_TILE_SIZE = {"synthetic": (2494, 2064), "synthetic-potsdam": (6000, 6000)}
IMPERVIOUS, BUILDING, LOW_VEG, TREE, CAR, CLUTTER = range(6)
# Mean colour per class as (R, G, B, IR). Buildings and impervious surfaces are equal on purpose.
_COLOUR = np.array([(128, 128, 128, 120), (128, 128, 128, 120), (95, 140, 75, 190),
                    (55, 95, 50, 165), (0, 0, 0, 0), (150, 110, 90, 110)], dtype=np.float32)
_NOISE = np.array([10, 10, 8, 22, 0, 18], dtype=np.float32)
_ZIP_TIME = (2016, 1, 1, 0, 0, 0)
# Potsdam's known label defects (docs/data.md), reproduced on the same tiles: 4_12 blended
# onto the image in 5_Labels_all.zip only (the participants' copy is clean); 6_7's cars
# coded (252, 255, 0) in both.
BLENDED_LABEL_TILE, YELLOW_CAR_TILE = "4_12", "6_7"
# The real Potsdam image and nDSM zips keep their files in a folder named after the zip
# (torchgeo reads 4_Ortho_RGBIR/ after extraction); the label zips do not.
_FOLDER = {"4_Ortho_RGBIR.zip": "4_Ortho_RGBIR/", "1_DSM_normalisation.zip": "1_DSM_normalisation/"}


@dataclass
class Scene:
    classes: np.ndarray    # uint8 HxW class index
    height: np.ndarray     # float32 HxW, metres above ground
    image: np.ndarray      # uint8 HxWx4, R G B IR


def _boxes(rng: np.random.Generator, h: int, w: int, count: int, lo: float, hi: float):
    """`count` random rectangles (y0, y1, x0, x1) with sides in [lo, hi] * min(h, w)."""
    side = min(h, w)
    for _ in range(count):
        bh, bw = (max(2, int(side * rng.uniform(lo, hi))) for _ in range(2))
        y, x = int(rng.integers(0, max(1, h - bh))), int(rng.integers(0, max(1, w - bw)))
        yield y, min(h, y + bh), x, min(w, x + bw)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Blotchy noise in [-1, 1]: a coarse random grid, upsampled by repetition."""
    coarse = rng.uniform(-1, 1, size=(h // cell + 1, w // cell + 1)).astype(np.float32)
    return np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)[:h, :w]


def make_scene(rng: np.random.Generator, h: int, w: int) -> Scene:
    """One procedural tile: classes, heights above ground and an RGBIR image."""
    area = h * w / (160 * 192)                      # object counts scale with the tile area
    classes = np.full((h, w), LOW_VEG, dtype=np.uint8)
    height = np.zeros((h, w), dtype=np.float32)
    shade = np.zeros((h, w), dtype=np.float32)      # per-object brightness offset

    def count(base: float) -> int:
        return max(1, int(rng.poisson(base * area)))

    for y0, y1, x0, x1 in _boxes(rng, h, w, count(5), 0.15, 0.3):
        classes[y0:y1, x0:x1] = BUILDING
        height[y0:y1, x0:x1] = rng.uniform(4, 15) + np.linspace(0, rng.uniform(0, 1.5), x1 - x0)
        shade[y0:y1, x0:x1] = rng.uniform(-15, 15)
    road = max(3, int(min(h, w) * 0.08))
    for axis in (0, 1):
        for _ in range(1 + rng.poisson(area ** 0.5)):
            start = int(rng.integers(0, (h, w)[axis] - road))
            sl = (slice(start, start + road), slice(None)) if axis == 0 else \
                (slice(None), slice(start, start + road))
            classes[sl], height[sl], shade[sl] = IMPERVIOUS, 0, rng.uniform(-15, 15)
    for y0, y1, x0, x1 in _boxes(rng, h, w, count(2), 0.1, 0.2):   # squares and car parks
        free = classes[y0:y1, x0:x1] == LOW_VEG
        classes[y0:y1, x0:x1][free] = IMPERVIOUS
        shade[y0:y1, x0:x1][free] = rng.uniform(-15, 15)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    side = min(h, w)
    for _ in range(count(6)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), side * rng.uniform(0.04, 0.09) + 1
        y0, y1, x0, x1 = (max(0, int(cy - r)), min(h, int(cy + r) + 1),
                          max(0, int(cx - r)), min(w, int(cx + r) + 1))
        d2 = ((yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2) / r ** 2
        crown = (d2 < 1) & (classes[y0:y1, x0:x1] == LOW_VEG)
        classes[y0:y1, x0:x1][crown] = TREE
        height[y0:y1, x0:x1][crown] = (rng.uniform(4, 12) * np.sqrt(np.clip(1 - d2, 0, 1)))[crown]
    car_colour = np.zeros((h, w, 4), dtype=np.float32)
    road_y, road_x = np.nonzero(classes == IMPERVIOUS)
    for _ in range(count(5) if len(road_y) else 0):
        i = int(rng.integers(len(road_y)))
        size = (max(2, int(side * 0.025)), max(3, int(side * 0.05)))
        ch, cw = size if rng.random() < 0.5 else size[::-1]     # along or across the road
        box = (slice(road_y[i], road_y[i] + ch), slice(road_x[i], road_x[i] + cw))
        on_road = classes[box] == IMPERVIOUS
        classes[box][on_road] = CAR
        height[box][on_road] = 1.5
        car_colour[box][on_road] = rng.uniform(20, 240, size=4)
    for y0, y1, x0, x1 in _boxes(rng, h, w, count(2), 0.02, 0.06):
        spot = (classes[y0:y1, x0:x1] != BUILDING) & (classes[y0:y1, x0:x1] != CAR)
        classes[y0:y1, x0:x1][spot] = CLUTTER
        height[y0:y1, x0:x1][spot] = rng.uniform(0, 1)

    # Image: class colour + per-object shade + per-pixel noise (texture for trees).
    texture = _smooth_noise(rng, h, w, max(2, side // 40))
    noise = rng.standard_normal((h, w), dtype=np.float32)
    spread = _NOISE[classes]
    variation = shade + spread * (0.6 * noise + 0.8 * texture)
    image = _COLOUR[classes] + car_colour + variation[..., None]
    return Scene(classes, height, np.clip(image, 0, 255).astype(np.uint8))


def eroded(classes: np.ndarray, radius: int) -> np.ndarray:
    """Classes with the pixels within `radius` of another class set to ignore (black)."""
    boundary = np.zeros(classes.shape, dtype=bool)
    for s in range(1, radius + 1):
        rows = classes[s:, :] != classes[:-s, :]      # pixel pairs s apart that differ
        boundary[s:, :] |= rows
        boundary[:-s, :] |= rows
        cols = classes[:, s:] != classes[:, :-s]
        boundary[:, s:] |= cols
        boundary[:, :-s] |= cols
    out = classes.copy()
    out[boundary] = IGNORE
    return out


def _tiff(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    photometric = "rgb" if array.ndim == 3 else "minisblack"
    bands = array.shape[2] if array.ndim == 3 else 1
    extra = ["unspecified"] * (bands - 3) if bands > 3 else None     # the IR band of RGBIR
    tifffile.imwrite(buf, array, photometric=photometric, extrasamples=extra)
    return buf.getvalue()


def _jpeg(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode="L").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _tile_files(spec: DatasetSpec, tile: str, scene: Scene, rng: np.random.Generator,
                short_dsm: bool) -> dict[str, bytes]:
    """Bytes of the four source files of a tile, by role, in the dataset's formats; for
    Potsdam also `label_all`, the copy in 5_Labels_all.zip where it differs."""
    files: dict[str, bytes] = {}
    h, w = scene.classes.shape
    label = class_to_colour(scene.classes)
    radius = 1 if min(h, w) < 1000 else 3
    label_eroded = class_to_colour(eroded(scene.classes, radius))
    if spec.layout == "vaihingen":
        image = scene.image[..., [3, 0, 1]]                        # IR-R-G
        ground = 265 + np.linspace(0, rng.uniform(-3, 3), w, dtype=np.float32)[None, :]
        dsm = (ground + scene.height).astype(np.float32)
        n_out = max(3, h * w // 20000)                             # a few spikes, as in the real DSMs
        ys, xs = rng.integers(0, h, n_out), rng.integers(0, w, n_out)
        dsm[ys, xs] += rng.choice([-80.0, 150.0], n_out).astype(np.float32)
        dsm_bytes = _tiff(dsm)
    else:
        image = scene.image                                        # R G B IR
        ndsm = np.clip(scene.height * 10, 0, 255).astype(np.uint8)
        dsm_bytes = _jpeg(ndsm[:, :-1] if short_dsm else ndsm)
        if tile == YELLOW_CAR_TILE:       # cars coded (252, 255, 0)
            label[scene.classes == CAR] = (252, 255, 0)
        if tile == BLENDED_LABEL_TILE:    # label blended onto the image: thousands of colours
            blended = (label.astype(np.uint16) + scene.image[..., :3]) // 2
            files["label_all"] = _tiff(blended.astype(np.uint8))
    return {"image": _tiff(image), "dsm": dsm_bytes, "label": _tiff(label),
            "label_eroded": _tiff(label_eroded), **files}


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def write_dataset(dataset: str, raw_dir: Path, seed: int = 0,
                  tile_size: tuple[int, int] = DEFAULT_TILE_SIZE, tiles: int | None = None,
                  short_dsm: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write the synthetic archives of `dataset` ("synthetic" or "synthetic-potsdam").

    `tiles` keeps the first tiles of each split (None: all of the protocol's split);
    `short_dsm` names tiles whose DSM is one column short, like a real Potsdam nDSM.
    Nothing is rewritten when the same parameters already produced the archives.
    """
    spec = get_spec(dataset)
    h, w = tile_size
    if h < 16 or w < 16:
        raise DataError(f"synthetic tile size {h}x{w}: expected at least 16x16 pixels")
    names = _choose_tiles(spec, tiles)
    params = {"dataset": dataset, "seed": seed, "tile_size": [h, w], "tiles": names,
              "short_dsm": sorted(short_dsm), "generator_version": 2}
    names_all = [a.name for a in spec.archives] + [a.fallback for a in spec.archives if a.fallback]
    paths = {name: raw_dir / name for name in names_all}
    info_path = raw_dir / SYNTHETIC_INFO
    if info_path.is_file() and json.loads(info_path.read_text()) == params \
            and all(p.is_file() for p in paths.values()):
        log.info("%s: synthetic archives with these parameters already in %s", dataset, raw_dir)
        return paths
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = {n: p.with_name(p.name + ".writing") for n, p in paths.items()}
    zips = {n: zipfile.ZipFile(t, "w", compression=zipfile.ZIP_DEFLATED) for n, t in tmp.items()}
    try:
        extra = ["area9"] if spec.layout == "vaihingen" else []  # the real eroded zip has area9 too
        for tile in tqdm(names + extra, desc=f"generating {dataset}", unit="tile"):
            rng = np.random.default_rng([seed, zlib.crc32(tile.encode())])
            files = _tile_files(spec, tile, make_scene(rng, h, w), rng, tile in short_dsm)
            for role, member in spec.members(tile).items():
                if tile in extra and role != "label_eroded":
                    continue
                path = _FOLDER.get(member.archive, "") + member.path
                zips[member.archive].writestr(_zip_info(path), files[role])
                fallback = next((a.fallback for a in spec.archives if a.name == member.archive), None)
                if fallback is not None:    # 5_Labels_all*.zip: same names, 4_12 blended
                    zips[fallback].writestr(_zip_info(path), files.get(f"{role}_all", files[role]))
                if role == "label" and spec.layout == "vaihingen":   # participants' copy
                    main = spec.members(tile)["image"].archive
                    zips[main].writestr(_zip_info(f"gts_for_participants/{member.path}"),
                                        files[role])
    except BaseException:
        for name, zf in zips.items():
            zf.close()
            tmp[name].unlink(missing_ok=True)
        raise
    for zf in zips.values():
        zf.close()
    checksums = load_checksums(raw_dir)
    for name, path in paths.items():
        tmp[name].replace(path)
        # The generator is the authority on its own archives: their md5 is the reference.
        checksums[name] = checksum_entry(path, md5_of(path))
    save_checksums(raw_dir, checksums)
    info_path.write_text(json.dumps(params, indent=2) + "\n")
    log.info("%s: wrote %d tiles (%dx%d) to %s", dataset, len(names), h, w, raw_dir)
    return paths


def _choose_tiles(spec: DatasetSpec, tiles: int | None) -> list[str]:
    if tiles is None:
        return list(spec.tiles)
    if not 2 <= tiles <= len(spec.tiles):
        raise DataError(f"--tiles {tiles}: expected 2 to {len(spec.tiles)} (one train and one "
                        "test tile at least)")
    n_test = max(1, round(tiles * len(spec.test) / len(spec.tiles)))
    return list(spec.train[: tiles - n_test]) + list(spec.test[:n_test])

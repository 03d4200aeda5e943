"""Synthetic archives in the exact layout of the ISPRS ones, from procedural scenes.

A scene is drawn at the dataset's ground sampling distance (9 cm for the Vaihingen
layout, 5 cm for Potsdam's), so a car is about 20x45 pixels at any tile size, and every
class is filled to a share near Vaihingen's. Roofs and paved surfaces are one population
of grey rectangles with one colour and texture: only the DSM tells buildings from
impervious surfaces, so a model that uses the height can beat one that does not.
Everything is deterministic in (seed, tile name); archives are written
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
# Ground sampling distance (metres per pixel): Vaihingen's 9 cm, Potsdam's 5 cm.
GSD = {"synthetic": 0.09, "synthetic-potsdam": 0.05}
# Class shares each tile is filled to, near Vaihingen's (impervious, building, low vegetation,
# tree, car, clutter); cars come out of the grey classes and clutter out of the grass.
SHARES = (0.275, 0.265, 0.225, 0.235, 0.01, 0.01)
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


@dataclass
class Layout:
    classes: np.ndarray                     # uint8 HxW class index
    height: np.ndarray | None               # float32 HxW metres above ground (None: labels only)
    shade: np.ndarray | None                # float32 HxW per-object brightness offset
    car_colour: np.ndarray | None           # float32 HxWx4 colour of each car
    objects: list[tuple[int, int, int]]     # (class, height px, width px) of every grey rectangle


def _clip_box(y: int, x: int, bh: int, bw: int, h: int, w: int) -> tuple[slice, slice]:
    return slice(max(0, y), min(h, y + bh)), slice(max(0, x), min(w, x + bw))


def make_layout(rng: np.random.Generator, h: int, w: int, gsd: float = GSD["synthetic"],
                min_cars: int = 0, labels_only: bool = False) -> Layout:
    """Where each class lies, with objects of real-world size at `gsd` metres per pixel.

    Every class is filled up to its share of the tile (SHARES), so counts grow with the area and
    the shares hold at any tile size. Roofs and paved surfaces (streets, car parks, plazas) are
    one population of grey rectangles: each rectangle becomes a building (raised) or a paved
    surface (flat) by a draw that keeps both near their shares, so shape, size and (in
    render_image) colour and texture are the same for both: only the height tells them apart.
    Cars park on both alike (streets and parking decks). A class's last object is shrunk to the
    share left, so tiles smaller than an object still hold every class. `labels_only` skips the
    heights and appearance (cheap for huge tiles).
    """
    px = 1.0 / gsd                                  # pixels per metre
    area = h * w
    classes = np.full((h, w), LOW_VEG, dtype=np.uint8)
    height = None if labels_only else np.zeros((h, w), dtype=np.float32)
    shade = None if labels_only else np.zeros((h, w), dtype=np.float32)
    car_colour = None if labels_only else np.zeros((h, w, 4), dtype=np.float32)
    done = {c: 0 for c in range(6)}
    want = {c: SHARES[c] * area for c in range(6)}
    objects: list[tuple[int, int, int]] = []

    def attempts(mean_px: float, share: float) -> int:   # generous: placement may land on taken pixels
        return 20 + int(8 * share * area / mean_px)

    # Grey rectangles: sides 5-16 m, up to 4 times as long as wide, along either axis.
    for _ in range(attempts((10 * px) ** 2 * 2.5, SHARES[BUILDING] + SHARES[IMPERVIOUS])):
        gaps = {c: want[c] - done[c] for c in (BUILDING, IMPERVIOUS)}
        cls = max(gaps, key=gaps.get)
        if gaps[cls] <= 0:
            break
        side = rng.uniform(5, 16) * px
        bh, bw = max(2, int(side)), max(2, int(side * rng.uniform(1, 4)))
        if rng.random() < 0.5:
            bh, bw = bw, bh
        if bh * bw > gaps[cls]:                     # the share left: shrink, keeping the aspect
            scale = np.sqrt(max(gaps[cls], 4) / (bh * bw))
            bh, bw = max(2, int(bh * scale)), max(2, int(bw * scale))
        box = _clip_box(int(rng.integers(-bh // 2, h)), int(rng.integers(-bw // 2, w)), bh, bw, h, w)
        free = classes[box] == LOW_VEG
        n = int(free.sum())
        if n == 0:
            continue
        classes[box][free] = cls
        done[cls] += n
        objects.append((cls, bh, bw))
        if not labels_only:
            shade[box][free] = rng.uniform(-20, 20)
            if cls == BUILDING:     # flat or gently pitched roofs 5-18 m high
                roof = rng.uniform(5, 18) + np.linspace(0, rng.uniform(0, 1.5), box[1].stop - box[1].start)
                height[box][free] = np.broadcast_to(roof, free.shape)[free]

    # Trees: round crowns 2-5 m in radius on the grass, their height peaking at the centre.
    for _ in range(attempts(np.pi * (3.5 * px) ** 2, SHARES[TREE])):
        gap = want[TREE] - done[TREE]
        if gap <= 0:
            break
        r = min(rng.uniform(2, 5) * px, max(1.5, np.sqrt(gap / np.pi)))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        box = _clip_box(int(cy - r), int(cx - r), int(2 * r) + 2, int(2 * r) + 2, h, w)
        yy, xx = np.ogrid[box[0], box[1]]
        d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2
        crown = (d2 < 1) & (classes[box] == LOW_VEG)
        classes[box][crown] = TREE
        done[TREE] += int(crown.sum())
        if not labels_only:
            top = rng.uniform(5, 15)
            height[box][crown] = (top * (0.5 + 0.5 * np.sqrt(np.clip(1 - d2, 0, 1))))[crown]

    # Cars, 3.8-4.8 x 1.7-2 m, on grey pixels drawn uniformly (so as densely on roofs as on
    # streets); a car too many for a small tile is placed with the probability that keeps the share.
    grey_y, grey_x = np.nonzero((classes == BUILDING) | (classes == IMPERVIOUS))
    cars = 0
    for _ in range(attempts(4.3 * 1.85 * px ** 2, SHARES[CAR]) if len(grey_y) else 0):
        gap = want[CAR] - done[CAR]
        ch, cw = max(2, int(rng.uniform(1.7, 2.0) * px)), max(3, int(rng.uniform(3.8, 4.8) * px))
        if cars >= min_cars and (gap <= 0 or (gap < ch * cw and rng.random() > gap / (ch * cw))):
            break
        if rng.random() < 0.5:
            ch, cw = cw, ch
        i = int(rng.integers(len(grey_y)))
        under = classes[grey_y[i], grey_x[i]]
        if under == CAR:
            continue
        box = _clip_box(int(grey_y[i]) - ch // 2, int(grey_x[i]) - cw // 2, ch, cw, h, w)
        spot = classes[box] == under
        classes[box][spot] = CAR
        done[CAR] += int(spot.sum())
        cars += 1
        if not labels_only:
            height[box][spot] += 1.5
            car_colour[box][spot] = rng.uniform(20, 240, size=4)

    # Clutter: small heaps 1-3 m across on the grass.
    for _ in range(attempts((2 * px) ** 2, SHARES[CLUTTER])):
        gap = want[CLUTTER] - done[CLUTTER]
        if gap <= 0:
            break
        bh, bw = (max(2, int(rng.uniform(1, 3) * px)) for _ in range(2))
        if bh * bw > gap:
            bh = bw = max(2, int(np.sqrt(gap)))
        box = _clip_box(int(rng.integers(0, h)), int(rng.integers(0, w)), bh, bw, h, w)
        spot = classes[box] == LOW_VEG
        classes[box][spot] = CLUTTER
        done[CLUTTER] += int(spot.sum())
        if not labels_only:
            height[box][spot] = rng.uniform(0.2, 1.5)
    return Layout(classes, height, shade, car_colour, objects)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Blotchy noise in [-1, 1]: a coarse random grid, upsampled by repetition."""
    coarse = rng.uniform(-1, 1, size=(h // cell + 1, w // cell + 1)).astype(np.float32)
    return np.repeat(np.repeat(coarse, cell, axis=0), cell, axis=1)[:h, :w]


def render_image(rng: np.random.Generator, layout: Layout, gsd: float) -> np.ndarray:
    """uint8 HxWx4 (R, G, B, IR): class colour + per-object shade + per-pixel noise, and a blotchy
    texture about 0.6 m across (leaves of trees, patches of grass, stains on roofs and paving)."""
    classes = layout.classes
    h, w = classes.shape
    texture = _smooth_noise(rng, h, w, max(1, round(0.6 / gsd)))
    noise = rng.standard_normal((h, w), dtype=np.float32)
    variation = layout.shade + _NOISE[classes] * (0.6 * noise + 0.8 * texture)
    image = _COLOUR[classes] + layout.car_colour + variation[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def make_scene(rng: np.random.Generator, h: int, w: int, gsd: float = GSD["synthetic"],
               min_cars: int = 0) -> Scene:
    """One procedural tile: classes, heights above ground and an RGBIR image."""
    layout = make_layout(rng, h, w, gsd, min_cars)
    return Scene(layout.classes, layout.height, render_image(rng, layout, gsd))


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
        # A few spikes, as in the real DSMs, always both ways, so that every tile's min-max
        # scaling spans about the same 140 m and a building's height reads the same on each.
        n_out = max(3, h * w // 20000)
        ys, xs = rng.integers(0, h, n_out), rng.integers(0, w, n_out)
        dsm[ys, xs] = ground[0, xs] + np.resize(np.array([-65.0, 75.0], np.float32), n_out)
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
              "short_dsm": sorted(short_dsm), "generator_version": 3}
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
            scene = make_scene(rng, h, w, GSD[dataset], min_cars=int(tile == YELLOW_CAR_TILE))
            files = _tile_files(spec, tile, scene, rng, tile in short_dsm)
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

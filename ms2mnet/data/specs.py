"""What each dataset is made of: archives, member names, splits, bands and DSM scaling.

Everything here follows the protocol `isprs-ssrs` (docs/data.md); the rest of the data
package reads these specs and never hard-codes a file name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

PROTOCOL = "isprs-ssrs"
# Bump when the prepared arrays change for the same sources: every tile is then rebuilt.
PREPARE_VERSION = 2
# Image, DSM and labels of a tile may differ by this many pixels per axis (cropped, with a warning).
MAX_SIZE_MISMATCH = 8

ISPRS_PAGE = "https://www.isprs.org/education/benchmarks/UrbanSemLab/ (2D Semantic Labeling)"
MIRRORS = "mmsegmentation's dataset guide (docs/en/user_guides/2_dataset_prepare.md) lists mirrors"


@dataclass(frozen=True)
class Archive:
    """One zip the dataset needs; `md5` is None where no checksum is published.

    `fallback` names an archive with the same member names, read (with a warning) only
    when this one is absent.
    """

    name: str
    md5: str | None = None
    fallback: str | None = None


@dataclass(frozen=True)
class Member:
    """Where one source file of a tile lives: archive name and path inside it."""

    archive: str
    path: str


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    layout: str                      # "vaihingen" or "potsdam": file names and formats
    package: str                     # the outer package ISPRS distributes
    package_size: int | None         # its published size in bytes, where known
    archives: tuple[Archive, ...]
    train: tuple[str, ...]
    test: tuple[str, ...]
    image_bands: tuple[int, ...]     # indices into the stored bands, in protocol order
    band_names: str                  # protocol order, for meta.json
    source_bands: int                # bands the image file must have
    dsm_scaling: str = "minmax"      # default of `ms2mnet prepare --dsm-scaling` (dsm.SCALINGS)
    dsm_percentiles: tuple[float, float] = (0.1, 99.9)   # for the "percentile_minmax" scaling
    synthetic: bool = False

    @property
    def dsm_format(self) -> str:
        """Vaihingen: float32 DSM TIFFs; Potsdam: 8-bit nDSM JPEGs."""
        return "tiff" if self.layout == "vaihingen" else "jpeg"

    def published_md5(self, file_name: str) -> str | None:
        """The published md5 of an archive file (fallbacks have none)."""
        return next((a.md5 for a in self.archives if a.name == file_name), None)

    @property
    def tiles(self) -> tuple[str, ...]:
        return self.train + self.test

    def split_of(self, tile: str) -> str:
        return "train" if tile in self.train else "test"

    def members(self, tile: str) -> dict[str, Member]:
        """Source files of one tile, by role: image, dsm, label, label_eroded."""
        if self.layout == "vaihingen":
            n = tile.removeprefix("area")
            main, full, eroded = (a.name for a in self.archives)
            return {
                "image": Member(main, f"top/top_mosaic_09cm_area{n}.tif"),
                "dsm": Member(main, f"dsm/dsm_09cm_matching_area{n}.tif"),
                "label": Member(full, f"top_mosaic_09cm_area{n}.tif"),
                "label_eroded": Member(eroded, f"top_mosaic_09cm_area{n}_noBoundary.tif"),
            }
        r, c = tile.split("_")
        return {
            "image": Member("4_Ortho_RGBIR.zip", f"top_potsdam_{r}_{c}_RGBIR.tif"),
            # nDSM names are zero-padded (02_10) while the image names are not (2_10).
            "dsm": Member("1_DSM_normalisation.zip",
                          f"dsm_potsdam_{int(r):02d}_{int(c):02d}_normalized_lastools.jpg"),
            # The labels SSRS reads; 5_Labels_all*.zip (same member names) only as a fallback.
            "label": Member("5_Labels_for_participants.zip", f"top_potsdam_{r}_{c}_label.tif"),
            "label_eroded": Member("5_Labels_for_participants_no_Boundary.zip",
                                   f"top_potsdam_{r}_{c}_label_noBoundary.tif"),
        }


VAIHINGEN = DatasetSpec(
    name="vaihingen",
    layout="vaihingen",
    package="Vaihingen.zip",
    package_size=None,
    archives=(
        Archive("ISPRS_semantic_labeling_Vaihingen.zip", md5="462b8dca7b6fa9eaf729840f0cdfc7f3"),
        Archive("ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip",
                md5="4802dd6326e2727a352fb735be450277"),
        Archive("ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip"),
    ),
    train=tuple(f"area{n}" for n in (1, 3, 23, 26, 7, 11, 13, 28, 17, 32, 34, 37)),
    test=tuple(f"area{n}" for n in (5, 21, 15, 30)),
    image_bands=(0, 1, 2),
    band_names="IR-R-G",
    source_bands=3,
)

POTSDAM = DatasetSpec(
    name="potsdam",
    layout="potsdam",
    package="Potsdam.zip",
    package_size=13_324_219_686,     # as served by the ISPRS Seafile share
    archives=(
        Archive("4_Ortho_RGBIR.zip", md5="c4a8f7d8c7196dd4eba4addd0aae10c1"),
        Archive("1_DSM_normalisation.zip"),
        Archive("5_Labels_for_participants.zip", fallback="5_Labels_all.zip"),
        Archive("5_Labels_for_participants_no_Boundary.zip", fallback="5_Labels_all_noBoundary.zip"),
    ),
    train=("6_10", "7_10", "2_12", "3_11", "2_10", "7_8", "5_10", "3_12", "5_12", "7_11", "7_9",
           "6_9", "7_7", "4_12", "6_8", "6_12", "6_7", "4_11"),
    test=("4_10", "5_11", "2_11", "3_10", "6_11", "7_12"),
    image_bands=(0, 1, 2),           # stored R, G, B, IR; the protocol uses R-G-B
    band_names="R-G-B",
    source_bands=4,
)

# Synthetic datasets share the real layouts; no checksum is published for them.
_SYNTHETIC_OF = {"synthetic": VAIHINGEN, "synthetic-potsdam": POTSDAM}
DATASETS = ("vaihingen", "potsdam", *_SYNTHETIC_OF)

# Written by the synthetic generator beside its archives: parameters and the tiles it made.
SYNTHETIC_INFO = "synthetic.json"


class DataError(ValueError):
    """Bad or inconsistent input data; the message says what to do."""


class MissingDataError(FileNotFoundError):
    """A needed archive or prepared dataset is not there; the message says where to get it."""


def get_spec(name: str, raw_dir: Path | None = None) -> DatasetSpec:
    """The spec of a dataset; for synthetic ones, restricted to the tiles the generator wrote."""
    if name == "vaihingen":
        return VAIHINGEN
    if name == "potsdam":
        return POTSDAM
    if name not in _SYNTHETIC_OF:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    base = _SYNTHETIC_OF[name]
    spec = replace(base, name=name, synthetic=True, package_size=None,
                   archives=tuple(replace(a, md5=None) for a in base.archives))
    info = raw_dir / SYNTHETIC_INFO if raw_dir is not None else None
    if info is not None and info.is_file():
        tiles = set(json.loads(info.read_text())["tiles"])
        spec = replace(spec, train=tuple(t for t in base.train if t in tiles),
                       test=tuple(t for t in base.test if t in tiles))
    return spec

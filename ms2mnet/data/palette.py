"""Colour labels <-> class indices, counting the pixels whose colour is not in the palette."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("impervious", "building", "low_vegetation", "tree", "car", "clutter")
PALETTE = np.array([(255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0),
                    (255, 255, 0), (255, 0, 0)], dtype=np.uint8)
IGNORE = 255           # black (undefined, eroded boundary) and unknown colours

# Each channel thresholded at 128 gives a 3-bit code r*4 + g*2 + b. Six codes are the
# palette, black (0) is ignore, and magenta (5) is no class: it becomes ignore too,
# and is counted as unknown, so that a wrong colour never turns silently into class 0.
_UNKNOWN_CODE = 5
_CODE_TO_CLASS = np.full(8, IGNORE, dtype=np.uint8)
for _index, (_r, _g, _b) in enumerate(PALETTE):
    _CODE_TO_CLASS[(_r >= 128) * 4 + (_g >= 128) * 2 + (_b >= 128)] = _index


@dataclass(frozen=True)
class PaletteReport:
    off_palette: int       # pixels whose exact colour is not a palette colour or black
    unknown: int           # of those, pixels that thresholding cannot place (set to ignore)
    unknown_colours: list[tuple[int, int, int]]   # a few examples, for the message

    def as_dict(self) -> dict:
        return {"off_palette_pixels": self.off_palette, "unknown_colour_pixels": self.unknown,
                "unknown_colour_examples": [list(c) for c in self.unknown_colours]}


def colour_to_class(rgb: np.ndarray) -> tuple[np.ndarray, PaletteReport]:
    """Class index map (uint8, 255 = ignore) of an HxWx3 uint8 colour label."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 colour label, got shape {rgb.shape}")
    high = rgb >= 128
    code = (high[..., 0].astype(np.uint8) << 2) | (high[..., 1].astype(np.uint8) << 1) \
        | high[..., 2].astype(np.uint8)
    labels = _CODE_TO_CLASS[code]
    exact = ((rgb == 0) | (rgb == 255)).all(axis=2)
    unknown_mask = code == _UNKNOWN_CODE
    off = int(np.count_nonzero(~exact | unknown_mask))
    unknown = int(np.count_nonzero(unknown_mask))
    examples: list[tuple[int, int, int]] = []
    if unknown:
        examples = [tuple(int(v) for v in c) for c in np.unique(rgb[unknown_mask][:10000], axis=0)[:5]]
    return labels, PaletteReport(off, unknown, examples)


def class_to_colour(labels: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 colour label of a class index map; ignore becomes black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(PALETTE)] = PALETTE
    return lut[labels]


def class_histogram(labels: np.ndarray) -> dict[str, int]:
    """Pixel count per class name, plus `ignore`."""
    counts = np.bincount(labels.ravel(), minlength=256)
    hist = {name: int(counts[i]) for i, name in enumerate(CLASSES)}
    hist["ignore"] = int(counts[IGNORE])
    return hist

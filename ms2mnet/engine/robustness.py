"""How much a trained model needs its DSM: evaluate it with the test tiles' DSM perturbed (`eval.dsm`).

Modes (only the DSM changes; image and labels are the tiles' own):
- `clean`: the DSM as prepared;
- `zero`: a DSM of zeros (the sensor is missing);
- `noise:<sigma>`: plus Gaussian noise of standard deviation sigma, in the DSM's prepared units (the
  prepared DSM lies in [0, 1]), seeded per tile, not clipped;
- `shift:<pixels>`: moved `pixels` down and right (misregistration); the uncovered top rows and left
  columns repeat the first valid row and column;
- `stale:<tile>`: the DSM of another tile of the prepared dataset, cut to this tile's size at the top left
  and, where it is smaller, padded by repeating its last row and column.

`ms2mnet evaluate --run <name> eval.dsm=<mode>` loads a trained seed's checkpoint and writes
runs/.../seed<k>/robustness/<mode>.json (the metrics, per tile too); the report's robustness section
reads those files.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ms2mnet.data.store import TileStore

MODES = ("clean", "zero", "noise:<sigma>", "shift:<pixels>", "stale:<tile>")
_PATTERN = re.compile(r"(clean|zero)|(noise):([0-9.eE+-]+)|(shift):([0-9]+)|(stale):([A-Za-z0-9_.-]+)")


@dataclass(frozen=True)
class DsmMode:
    kind: str                       # clean | zero | noise | shift | stale
    value: float | int | str | None = None

    @property
    def name(self) -> str:
        """The mode as written, and the file stem of its results: 'noise:0.1' -> 'noise_0.1'."""
        return self.kind if self.value is None else f"{self.kind}_{self.value}"

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"


def parse_dsm_mode(text: str) -> DsmMode:
    match = _PATTERN.fullmatch(str(text).strip())
    if match is None:
        raise ValueError(f"eval.dsm={text!r}: expected one of {', '.join(MODES)} (e.g. noise:0.1, shift:8, "
                         "stale:area5)")
    if match.group(1):
        return DsmMode(match.group(1))
    if match.group(2):
        sigma = float(match.group(3))
        if not sigma > 0:
            raise ValueError(f"eval.dsm={text!r}: sigma must be positive")
        return DsmMode("noise", sigma)
    if match.group(4):
        pixels = int(match.group(5))
        if pixels < 1:
            raise ValueError(f"eval.dsm={text!r}: shift by at least one pixel")
        return DsmMode("shift", pixels)
    return DsmMode("stale", match.group(7))


def _seed(tile: str) -> int:
    return int.from_bytes(hashlib.sha256(tile.encode()).digest()[:4], "little")


def perturb_dsm(dsm: Tensor, mode: DsmMode, tile: str, other: Tensor | None = None) -> Tensor:
    """`dsm` (1, H, W) of tile `tile` under `mode`; `other` is the stale tile's DSM for `stale`."""
    if mode.kind == "clean":
        return dsm
    if mode.kind == "zero":
        return torch.zeros_like(dsm)
    if mode.kind == "noise":
        generator = torch.Generator().manual_seed(_seed(tile))
        noise = torch.randn(dsm.shape, generator=generator, dtype=torch.float32) * float(mode.value)
        return dsm + noise.to(dsm.device, dsm.dtype)
    height, width = dsm.shape[-2:]
    if mode.kind == "shift":
        p = int(mode.value)
        if p >= min(height, width):
            raise ValueError(f"eval.dsm=shift:{p}: tile {tile} is only {height}x{width}")
        return F.pad(dsm[:, : height - p, : width - p][None], (p, 0, p, 0), mode="replicate")[0]
    if mode.kind == "stale":
        if other is None:
            raise ValueError("stale mode needs the other tile's DSM")
        cut = other[:, :height, :width].to(dsm.device, dsm.dtype)
        pad_h, pad_w = height - cut.shape[-2], width - cut.shape[-1]
        return F.pad(cut[None], (0, pad_w, 0, pad_h), mode="replicate")[0] if pad_h or pad_w else cut
    raise ValueError(f"unknown DSM mode {mode}")


class PerturbedTiles:
    """Test tiles (a `WholeTiles`) whose DSM is perturbed by `mode`; everything else passes through."""

    def __init__(self, tiles, mode: DsmMode, store: TileStore | None = None):
        self.tiles, self.mode, self.other = tiles, mode, None
        if mode.kind == "stale":
            if store is None or mode.value not in store.tiles("train") + store.tiles("test"):
                known = ", ".join((store.tiles("train") + store.tiles("test"))[:8]) if store else "none"
                raise ValueError(f"eval.dsm=stale:{mode.value}: no such tile in the prepared dataset "
                                 f"(tiles: {known}, ...)")
            self.other = torch.from_numpy(store.tile(str(mode.value)).dsm.astype("float32"))[None]

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> dict:
        sample = dict(self.tiles[index])
        if self.mode.kind == "stale" and sample["name"] == self.mode.value:
            raise ValueError(f"eval.dsm=stale:{self.mode.value} is a test tile itself: its own DSM is not stale; "
                             "pick a training tile")
        sample["dsm"] = perturb_dsm(sample["dsm"], self.mode, str(sample["name"]), self.other)
        return sample

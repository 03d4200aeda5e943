"""Samples for training (random crops) and evaluation (whole tiles, sliding-window index).

Reproducibility: a training sample's randomness comes only from (seed, epoch, index),
through its own numpy generator. The same index gives the same crop in any process,
so the data of an epoch does not depend on the number of data-loader workers, on
which worker serves which index, or on torch's global RNG. Call `set_epoch(e)`
before each epoch (with `persistent_workers=False`, the default, the workers see it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ms2mnet.data.palette import IGNORE
from ms2mnet.data.store import TileStore


def _tensors(image: np.ndarray, dsm: np.ndarray, label: np.ndarray) -> dict[str, torch.Tensor]:
    """image float32 (3,H,W) and dsm float32 (1,H,W) in [0, 1]; label int64 (H,W)."""
    # All work in numpy, into new writable arrays (the memory maps are read-only): torch's
    # thread pool costs more than it saves on one crop.
    chw = np.empty((3, *image.shape[:2]), dtype=np.float32)
    np.divide(image.transpose(2, 0, 1), np.float32(255), out=chw)
    return {
        "image": torch.from_numpy(chw),
        "dsm": torch.from_numpy(dsm.astype(np.float32)[None]),
        "label": torch.from_numpy(label.astype(np.int64)),
    }


class RandomCrops(Dataset):
    """`samples_per_epoch` random crops with random flips from the tiles of one split.

    Each sample picks a tile uniformly (as the ISPRS code lineage does), then a crop
    position uniformly; tiles smaller than the crop are padded (image 0, label ignore).
    Training uses the full labels (label.npy).
    """

    def __init__(self, store: TileStore, split: str = "train", crop_size: int = 256,
                 samples_per_epoch: int = 10_000, seed: int = 0, flips: bool = True):
        self.store, self.names = store, store.tiles(split)
        if not self.names:
            raise ValueError(f"{store.root}: split {split!r} has no tiles")
        self.crop, self.length, self.seed, self.flips = crop_size, samples_per_epoch, seed, flips
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        tile = self.store.tile(self.names[int(rng.integers(len(self.names)))])
        h, w = tile.label.shape
        c = self.crop
        y, x = int(rng.integers(max(h - c, 0) + 1)), int(rng.integers(max(w - c, 0) + 1))
        box = (slice(y, y + c), slice(x, x + c))
        image, dsm, label = tile.image[box], tile.dsm[box], tile.label[box]
        if image.shape[:2] != (c, c):
            pad = ((0, c - image.shape[0]), (0, c - image.shape[1]))
            image = np.pad(image, (*pad, (0, 0)))
            dsm, label = np.pad(dsm, pad), np.pad(label, pad, constant_values=IGNORE)
        flip_v, flip_h = rng.random(2) < 0.5 if self.flips else (False, False)
        if flip_v:
            image, dsm, label = image[::-1], dsm[::-1], label[::-1]
        if flip_h:
            image, dsm, label = image[:, ::-1], dsm[:, ::-1], label[:, ::-1]
        return _tensors(image, dsm, label)


def axis_starts(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one axis: every `stride`, the last one flush with the edge."""
    if stride < 1 or window < 1:
        raise ValueError(f"window {window} and stride {stride}: expected both >= 1")
    if size <= window:
        return [0]                   # one window; the evaluator pads the tile
    starts = list(range(0, size - window, stride))
    return starts + [size - window]


def sliding_windows(height: int, width: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of windows that cover every pixel of a height x width tile."""
    return [(y, x) for y in axis_starts(height, window, stride)
            for x in axis_starts(width, window, stride)]


class WholeTiles(Dataset):
    """Whole tiles of one split for evaluation, with the eroded labels (the protocol's)."""

    def __init__(self, store: TileStore, split: str = "test", labels: str = "label_eroded"):
        self.store, self.names, self.labels = store, store.tiles(split), labels

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        tile = self.store.tile(self.names[index])
        return {"name": tile.name, **_tensors(tile.image, tile.dsm, getattr(tile, self.labels))}

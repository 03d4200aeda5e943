"""Read a prepared dataset: the manifest, and each tile's arrays memory-mapped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ms2mnet.data.prepare import ARRAYS, MANIFEST
from ms2mnet.data.specs import MissingDataError


@dataclass(frozen=True)
class Tile:
    name: str
    image: np.ndarray          # uint8 HxWx3
    dsm: np.ndarray            # float16 HxW in [0, 1]
    label: np.ndarray          # uint8 HxW, 255 = ignore (full labels: training)
    label_eroded: np.ndarray   # uint8 HxW, 255 = ignore (eroded labels: evaluation)


class TileStore:
    """The tiles of data/prepared/<dataset>/; arrays are opened lazily, once per process."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise MissingDataError(f"{path}: expected a prepared dataset, found no manifest. "
                                   f"Run `ms2mnet prepare {self.root.name}` first.")
        self.manifest = json.loads(path.read_text())
        self._open: dict[str, Tile] = {}

    def tiles(self, split: str) -> list[str]:
        if split not in self.manifest["splits"]:
            raise ValueError(f"split {split!r}: expected one of {sorted(self.manifest['splits'])}")
        return list(self.manifest["splits"][split])

    def shape(self, name: str) -> tuple[int, int]:
        h, w = self.manifest["tiles"][name]
        return h, w

    def tile(self, name: str) -> Tile:
        if name not in self._open:
            folder = self.root / name
            try:
                arrays = {a: np.load(folder / f"{a}.npy", mmap_mode="r") for a in ARRAYS}
            except FileNotFoundError as err:
                raise MissingDataError(f"{folder}: tile listed in the manifest but incomplete "
                                       f"({err.filename} missing). Run `ms2mnet prepare "
                                       f"{self.root.name}` again.") from err
            self._open[name] = Tile(name, **arrays)
        return self._open[name]

    def __getstate__(self) -> dict:
        # Data-loader workers get the paths, not the maps: pickling a memmap copies its data.
        return {**self.__dict__, "_open": {}}

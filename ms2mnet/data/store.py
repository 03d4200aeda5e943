"""Read a prepared dataset: the manifest, and each tile's arrays memory-mapped.

Whatever is wrong with prepared data (a manifest that is not JSON or not an object, a truncated or foreign
.npy, an image stored as floats or channels first, a DSM in metres, labels of another shape or with values
that are no class, tiles prepared with other options than their manifest records) is refused in one line
naming the file and the fix, when the tile is opened; `check()` opens every tile before a run trains.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ms2mnet.data.palette import CLASSES, IGNORE
from ms2mnet.data.prepare import ARRAYS, MANIFEST
from ms2mnet.data.specs import DataError, MissingDataError


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
        self.manifest = self._read_manifest(path)
        self._open: dict[str, Tile] = {}
        self._valid: set[str] = set()      # tiles validated once in this process tree (workers inherit it)

    def _again(self) -> str:
        return f"Run `ms2mnet prepare {self.root.name}` again."

    def _read_manifest(self, path: Path) -> dict:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"{path}: not valid JSON ({err}); a prepare was interrupted or the file was edited. "
                            f"{self._again()}") from None
        if not isinstance(manifest, dict):
            raise DataError(f"{path}: holds a JSON {type(manifest).__name__}, expected an object. {self._again()}")
        splits, tiles = manifest.get("splits"), manifest.get("tiles")
        if not (isinstance(splits, dict) and all(isinstance(v, list) for v in splits.values())
                and isinstance(tiles, dict)):
            raise DataError(f"{path}: expected 'splits' (lists of tiles) and 'tiles' (their shapes). {self._again()}")
        if unlisted := sorted({t for names in splits.values() for t in names} - tiles.keys()):
            raise DataError(f"{path}: tiles {', '.join(unlisted)} have no shape under 'tiles'. {self._again()}")
        return manifest

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
            arrays = {a: self._load(folder / f"{a}.npy") for a in ARRAYS}
            if name not in self._valid:
                self._validate(name, arrays)
                self._valid.add(name)
            self._open[name] = Tile(name, **arrays)
        return self._open[name]

    def _load(self, path: Path) -> np.ndarray:
        if not path.is_file():
            raise MissingDataError(f"{path.parent}: tile listed in the manifest but incomplete ({path} missing). "
                                   f"{self._again()}")
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            # numpy's own message names no file and suggests allow_pickle: say what it is instead
            raise DataError(f"{path}: truncated or not a .npy array ({type(err).__name__}). {self._again()}") from None

    def _validate(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Dtype, shape and range of each array, as `prepare` writes them."""
        shape = tuple(self.manifest["tiles"][name])
        image = arrays["image"]

        def refuse(array: str, what: str) -> DataError:
            return DataError(f"{self.root / name / f'{array}.npy'}: {what}; not what `prepare` writes. {self._again()}")

        if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[2] not in (3, 4):
            raise refuse("image", f"channels first (shape {image.shape}), expected height x width x 3")
        if image.dtype != np.uint8 or image.shape != (*shape, 3):
            raise refuse("image", f"{image.dtype} of shape {image.shape}, expected uint8 of shape {(*shape, 3)}")
        dsm = arrays["dsm"]
        if dsm.dtype != np.float16 or dsm.shape != shape:
            raise refuse("dsm", f"{dsm.dtype} of shape {dsm.shape}, expected float16 of shape {shape}")
        low, high = float(np.min(dsm)), float(np.max(dsm))
        if not (0 <= low and high <= 1):     # NaN fails too
            raise refuse("dsm", f"values from {low:g} to {high:g}, expected a scaled DSM in [0, 1]")
        classes = len(self.manifest.get("classes", CLASSES))
        for role in ("label", "label_eroded"):
            label = arrays[role]
            if label.dtype != np.uint8 or label.shape != shape:
                raise refuse(role, f"{label.dtype} of shape {label.shape}, expected uint8 of shape {shape}")
            counts = np.bincount(np.asarray(label).ravel(), minlength=256)
            if bad := [v for v in np.flatnonzero(counts) if classes <= v != IGNORE]:
                raise refuse(role, f"values {', '.join(map(str, bad[:5]))} are no class (0..{classes - 1}, "
                                   f"{IGNORE} = ignore)")

    def check(self) -> None:
        """Open and validate every tile, and refuse tiles prepared with other options than the manifest records
        (an interrupted `prepare` with other options), before a run does any work."""
        signatures = self.manifest.get("signatures")
        if not isinstance(signatures, dict):
            raise DataError(f"{self.root / MANIFEST}: records no tile signatures (written by an older prepare). "
                            f"{self._again()}")
        disagree = []
        for name in sorted({t for names in self.manifest["splits"].values() for t in names}):
            self.tile(name)
            try:
                meta = json.loads((self.root / name / "meta.json").read_text())
            except (OSError, ValueError):
                meta = {}
            if not isinstance(meta, dict) or meta.get("signature") != signatures.get(name):
                disagree.append(name)
        if disagree:
            raise DataError(f"{self.root}: tiles {', '.join(disagree[:5])}{' ...' if len(disagree) > 5 else ''} "
                            f"were prepared from other sources or with other options than {MANIFEST} records "
                            f"(an interrupted prepare?). {self._again()}")

    def digest(self) -> str:
        """What identifies this prepared data: its tiles' signatures (sources and prepare options)."""
        signatures = self.manifest.get("signatures") or {}
        return hashlib.sha256(json.dumps(signatures, sort_keys=True).encode()).hexdigest()[:16]

    def __getstate__(self) -> dict:
        # Data-loader workers get the paths, not the maps: pickling a memmap copies its data.
        return {**self.__dict__, "_open": {}}

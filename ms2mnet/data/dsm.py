"""DSM scaling to [0, 1], per tile: the authors' plain min-max by default, two named options.

- `minmax` (default, both datasets): (dsm - min) / (max - min) over the tile, as the
  authors' and SSRS's code do for Vaihingen's float DSM and Potsdam's 8-bit nDSM alike.
- `percentile_minmax`: clip to the tile's percentiles (0.1, 99.9 by default) first, so a
  few outlier heights do not squeeze the rest of the range.
- `divide_255`: the 8-bit nDSM divided by 255 (Potsdam only): one scale for every tile.

The method and its parameters are recorded in each tile's meta.json.
"""

from __future__ import annotations

import numpy as np

from ms2mnet.data.specs import DataError

SCALINGS = ("minmax", "percentile_minmax", "divide_255")


def check_scaling(method: str) -> str:
    if method not in SCALINGS:
        raise DataError(f"DSM scaling {method!r}: expected one of {', '.join(SCALINGS)}")
    return method


def _minmax(dsm: np.ndarray, lo: float, hi: float) -> np.ndarray:
    # A flat tile (hi == lo) has no relief to scale: all zeros, as 0/0 would give NaN.
    return (np.clip(dsm, lo, hi) - lo) / (hi - lo) if hi > lo else np.zeros_like(dsm)


def scale_dsm(dsm: np.ndarray, method: str, where: str,
              percentiles: tuple[float, float] = (0.1, 99.9)) -> tuple[np.ndarray, dict]:
    """float16 HxW in [0, 1] and the record of how (for meta.json)."""
    check_scaling(method)
    if method == "divide_255":
        if dsm.dtype != np.uint8:
            raise DataError(f"{where}: DSM scaling 'divide_255' needs an 8-bit nDSM, found "
                            f"{dsm.dtype}. Use --dsm-scaling minmax or percentile_minmax.")
        return (dsm / 255.0).astype(np.float16), {"method": method}
    values = dsm.astype(np.float32, copy=False)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise DataError(f"{where}: {bad} DSM pixels are NaN or infinite, expected finite heights. "
                        "The file is corrupt: download the archive again.")
    info: dict = {"method": method}
    if method == "percentile_minmax":
        lo, hi = (float(v) for v in np.percentile(values, percentiles))
        info["percentiles"] = list(percentiles)
    else:
        lo, hi = float(values.min()), float(values.max())
    info.update(low=lo, high=hi)
    return _minmax(values, lo, hi).astype(np.float16), info

"""Data throughput: prepare (MB of source per second) and training crops per second.

Synthetic Vaihingen archives of real tile size are generated in a scratch folder,
prepared, then read by the training sampler through a torch DataLoader with 0, 1
and 2 workers. A script, not a test:

    .venv/bin/python benchmarks/data_throughput.py [--tiles 3] [--tile-size 2494x2064]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ms2mnet.data.prepare import prepare
from ms2mnet.data.sampling import RandomCrops
from ms2mnet.data.store import TileStore
from ms2mnet.data.synthetic import write_dataset

MB = 1e6


def _prepare_rows(root: Path, tiles: int, size: tuple[int, int]) -> list[tuple[str, str]]:
    t0 = time.perf_counter()
    archives = write_dataset("synthetic", root / "raw/synthetic", tile_size=size, tiles=tiles)
    generated = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepare("synthetic", root / "raw", root / "out")
    elapsed = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepare("synthetic", root / "raw", root / "out")
    rerun = time.perf_counter() - t0
    out = root / "out/synthetic"
    metas = [json.loads(p.read_text()) for p in out.glob("*/meta.json")]
    source = sum(s["size"] for m in metas for s in m["sources"].values())
    packed = sum(p.stat().st_size for p in archives.values())
    return [("generate synthetic archives", f"{generated:.1f} s"),
            ("prepare, source (uncompressed members)", f"{source / MB:.0f} MB in {elapsed:.1f} s "
             f"= {source / MB / elapsed:.1f} MB/s"),
            ("prepare, archives (deflated)", f"{packed / MB:.0f} MB = {packed / MB / elapsed:.1f} MB/s"),
            ("prepare again (all tiles unchanged)", f"{rerun:.2f} s")]


def _crops_per_second(store: TileStore, workers: int, crops: int, crop: int, batch: int) -> float:
    dataset = RandomCrops(store, crop_size=crop, samples_per_epoch=crops + 4 * batch, seed=0)
    loader = iter(DataLoader(dataset, batch_size=batch, num_workers=workers))
    for _ in range(2):                 # warm-up: worker start and first page faults
        next(loader)
    n, t0 = 0, time.perf_counter()
    while n < crops:
        n += len(next(loader)["label"])
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=3)
    parser.add_argument("--tile-size", default="2494x2064", help="HxW of each synthetic tile")
    parser.add_argument("--crops", type=int, default=2000)
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: temp)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    size = tuple(int(v) for v in args.tile_size.split("x"))
    root = args.workdir or Path(tempfile.mkdtemp(prefix="ms2mnet-data-bench-"))
    try:
        rows = _prepare_rows(root, args.tiles, size)
        store = TileStore(root / "out/synthetic")
        for workers in (0, 1, 2):
            rate = _crops_per_second(store, workers, args.crops, args.crop_size, args.batch)
            rows.append((f"sampler, {workers} worker(s), batch {args.batch}",
                         f"{rate:.0f} crops/s ({args.crop_size}x{args.crop_size}, with flips)"))
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nData throughput: {args.tiles} synthetic Vaihingen tiles of {size[0]}x{size[1]} px; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()

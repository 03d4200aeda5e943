"""Evaluator throughput: ms2mnet.engine.inference against the bare forward and against the authors' way.

    python benchmarks/evaluator_throughput.py [--tile 384] [--window 128] [--stride 64] [--batch 5] [--device cpu]

Three measurements on one tile, same model, same windows, same batch size:
- bare: model forwards on pre-cut batches of windows already on the device (the ceiling);
- ours: sliding_window_logits (windows cut and logits summed on the device);
- naive: the authors' loop: each window copied to a numpy array, moved to the device, logits copied
  back to the host and accumulated in a numpy buffer.
Prints windows/s for each, the evaluator's overhead over the bare forward, and checks that ours and
the naive loop predict the same labels.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from ms2mnet.data.sampling import sliding_windows
from ms2mnet.engine.inference import sliding_window_logits
from ms2mnet.models import build_model


def naive_logits(model, image: np.ndarray, dsm: np.ndarray, corners, window: int, batch: int, device) -> np.ndarray:
    total = np.zeros((6, *image.shape[1:]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(corners), batch):
            chunk = corners[start:start + batch]
            images = np.asarray([np.copy(image[:, y:y + window, x:x + window]) for y, x in chunk])
            dsms = np.asarray([np.copy(dsm[:, y:y + window, x:x + window]) for y, x in chunk])
            out = model(torch.from_numpy(images).to(device), torch.from_numpy(dsms).to(device)).cpu().numpy()
            for (y, x), o in zip(chunk, out):
                total[:, y:y + window, x:x + window] += o
    return total


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=384)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--stride", type=int, default=64)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model("ms2mnet", num_classes=6).to(device).eval()
    image = torch.rand(3, args.tile, args.tile, device=device)
    dsm = torch.rand(1, args.tile, args.tile, device=device)
    corners = sliding_windows(args.tile, args.tile, args.window, args.stride)
    batches = [(torch.stack([image[:, y:y + args.window, x:x + args.window] for y, x in chunk]),
                torch.stack([dsm[:, y:y + args.window, x:x + args.window] for y, x in chunk]))
               for chunk in (corners[i:i + args.batch] for i in range(0, len(corners), args.batch))]

    def bare():
        with torch.no_grad():
            for images, dsms in batches:
                model(images, dsms)

    def ours():
        return sliding_window_logits(model, image, dsm, 6, window=args.window, stride=args.stride,
                                     batch_size=args.batch)

    image_np, dsm_np = image.cpu().numpy(), dsm.cpu().numpy()

    def naive():
        return naive_logits(model, image_np, dsm_np, corners, args.window, args.batch, device)

    bare()  # warm-up
    seconds = {name: timed(fn, args.repeats) for name, fn in (("bare", bare), ("ours", ours), ("naive", naive))}
    same = bool((ours().argmax(0).cpu().numpy() == naive().argmax(0)).all())
    n = len(corners)
    print(f"{n} windows of {args.window} px (stride {args.stride}) on a {args.tile}x{args.tile} tile, batch {args.batch}, "
          f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or platform.machine()}), "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    for name, s in seconds.items():
        print(f"  {name:6s} {n / s:8.2f} windows/s  ({s:.3f} s)")
    print(f"  evaluator overhead over bare forward: {100 * (seconds['ours'] / seconds['bare'] - 1):+.1f}%")
    print(f"  naive loop vs evaluator: {seconds['naive'] / seconds['ours']:.2f}x the time; same predictions: {same}")


if __name__ == "__main__":
    main()

"""Sliding-window inference over a whole tile, entirely on the model's device.

Windows are cut from the tile tensor and batched on the device; their outputs are summed into a
tile-sized buffer on the device, then argmax. Tiles smaller than a window are zero-padded and the
result is cropped back.

By default this is the authors' `test()` (models/train_MS2MNet.py L57-103 with `sliding_window`,
models/utils.py L273-281): window starts `range(0, H, stride)` with every start past `H - window`
clamped back to `H - window`, so the last window of an axis is evaluated once per clamped start
and counted that many times; raw logits are summed (in float64, as their numpy buffer) in fp32
forwards. The options `windows="unique"` (each window once), `combine="softmax"` (probabilities
summed) and `amp=True` (autocast) depart from it and are recorded in metrics.json.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ms2mnet.data.sampling import sliding_windows

WINDOWS = ("authors", "unique")
COMBINE = ("logits", "softmax")


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA devices that support it, fp16 otherwise; nothing on the CPU."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def precision_name(device: torch.device, amp: bool) -> str:
    """What a forward actually runs in: 'fp32', or the autocast dtype on CUDA."""
    if not amp or device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def authors_starts(size: int, window: int, stride: int) -> list[int]:
    """The authors' starts along one axis: every `stride` from 0 to size - 1, clamped to size - window
    (repeats kept: a clamped start is evaluated as many times as it occurs). size >= window."""
    return [min(start, size - window) for start in range(0, size, stride)]


def window_corners(height: int, width: int, window: int, stride: int, windows: str = "authors") -> list[tuple[int, int]]:
    """Top-left corners (y, x), rows outer, in the order the authors' loop visits them."""
    if windows == "unique":
        return sliding_windows(height, width, window, stride)
    if windows != "authors":
        raise ValueError(f"eval.windows={windows!r}: expected one of {', '.join(WINDOWS)}")
    if stride < 1 or window < 1:
        raise ValueError(f"window {window} and stride {stride}: expected both >= 1")
    return [(y, x) for y in authors_starts(height, window, stride) for x in authors_starts(width, window, stride)]


def sum_dtype(device: torch.device) -> torch.dtype:
    # float64 as the authors' numpy buffer, where the device has it (MPS does not).
    return torch.float32 if device.type == "mps" else torch.float64


@torch.no_grad()
def sliding_window_logits(model: nn.Module, image: Tensor, dsm: Tensor, num_classes: int, *, window: int,
                          stride: int, batch_size: int, tta: bool = False, amp: bool = False,
                          windows: str = "authors", combine: str = "logits") -> Tensor:
    """image (3, H, W), dsm (1, H, W) on the model's device -> summed scores (K, H, W) (float64; float32 on MPS)."""
    if combine not in COMBINE:
        raise ValueError(f"eval.combine={combine!r}: expected one of {', '.join(COMBINE)}")
    height, width = image.shape[-2:]
    pad_h, pad_w = max(window - height, 0), max(window - width, 0)
    if pad_h or pad_w:
        image, dsm = F.pad(image, (0, pad_w, 0, pad_h)), F.pad(dsm, (0, pad_w, 0, pad_h))
    corners = window_corners(image.shape[-2], image.shape[-1], window, stride, windows)
    total = torch.zeros(num_classes, *image.shape[-2:], device=image.device, dtype=sum_dtype(image.device))

    def scores(images: Tensor, dsms: Tensor) -> Tensor:
        out = model(images, dsms).float()
        return out.softmax(1) if combine == "softmax" else out

    for start in range(0, len(corners), batch_size):
        chunk = corners[start:start + batch_size]
        images = torch.stack([image[:, y:y + window, x:x + window] for y, x in chunk])
        dsms = torch.stack([dsm[:, y:y + window, x:x + window] for y, x in chunk])
        with autocast(image.device, amp):
            out = scores(images, dsms)
            if tta:  # horizontal and vertical flips, flipped back
                for dims in ((-1,), (-2,)):
                    out += scores(images.flip(dims), dsms.flip(dims)).flip(dims)
        for (y, x), window_out in zip(chunk, out):
            total[:, y:y + window, x:x + window] += window_out
    return total[:, :height, :width]

"""Sliding-window inference over a whole tile, entirely on the model's device.

Windows are cut from the tile tensor and batched on the device; their logits are summed into a
tile-sized buffer on the device (overlaps add up, as the protocol says), then argmax. Tiles smaller
than a window are zero-padded and the result is cropped back.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ms2mnet.data.sampling import sliding_windows


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA devices that support it, fp16 otherwise; nothing on the CPU."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@torch.no_grad()
def sliding_window_logits(model: nn.Module, image: Tensor, dsm: Tensor, num_classes: int, *, window: int,
                          stride: int, batch_size: int, tta: bool = False, amp: bool = False) -> Tensor:
    """image (3, H, W), dsm (1, H, W) on the model's device -> summed logits (K, H, W), float32."""
    height, width = image.shape[-2:]
    pad_h, pad_w = max(window - height, 0), max(window - width, 0)
    if pad_h or pad_w:
        image, dsm = F.pad(image, (0, pad_w, 0, pad_h)), F.pad(dsm, (0, pad_w, 0, pad_h))
    corners = sliding_windows(image.shape[-2], image.shape[-1], window, stride)
    total = torch.zeros(num_classes, *image.shape[-2:], device=image.device)
    for start in range(0, len(corners), batch_size):
        chunk = corners[start:start + batch_size]
        images = torch.stack([image[:, y:y + window, x:x + window] for y, x in chunk])
        dsms = torch.stack([dsm[:, y:y + window, x:x + window] for y, x in chunk])
        with autocast(image.device, amp):
            logits = model(images, dsms).float()
            if tta:  # horizontal and vertical flips, flipped back
                for dims in ((-1,), (-2,)):
                    logits += model(images.flip(dims), dsms.flip(dims)).float().flip(dims)
        for (y, x), out in zip(chunk, logits):
            total[:, y:y + window, x:x + window] += out
    return total[:, :height, :width]

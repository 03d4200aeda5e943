"""The authors' evaluation loop, rewritten from its description for comparison (the suite never uses it).

Their `test()` (DrWuHonglin/MS2MNet models/train_MS2MNet.py L57-114, with `sliding_window`, `grouper` and
`metrics_data_to_csv` from models/utils.py L273-304, L358-442), as in the whole SSRS lineage:
- each tile is a numpy array on the host (H W C), the image divided by 255 in float32 and the DSM
  min-max scaled over the tile in float32 (L86-88);
- window starts `range(0, H, stride)` per axis, a start past `H - window` clamped back to it, so the
  last window of an axis is visited once per clamped start (utils.py L273-281), rows outer;
- windows are taken `batch_size` at a time in that order, copied with np.copy, moved to the device,
  and their raw logits copied back and added into a float64 (H W K) buffer; argmax in numpy (L77-103);
- one confusion matrix over all pixels of all tiles, classes 0..K-1 (the undefined label is left out;
  sklearn's confusion_matrix with labels=range(K), utils.py L362-365).

`ms2mnet.engine.evaluate` does the same on the device; tests/engine/test_authors_eval.py checks that
both give the same argmax maps and confusion matrices.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from ms2mnet.engine.inference import autocast


def their_windows(height: int, width: int, window: int, stride: int):
    """(row, col) starts as their sliding_window yields them (repeats included)."""
    for row in range(0, height, stride):
        row = height - window if row + window > height else row
        for col in range(0, width, stride):
            col = width - window if col + window > width else col
            yield row, col


def their_dsm(dsm: np.ndarray) -> np.ndarray:
    """Their DSM normalisation: (dsm - min) / (max - min) over the tile, float32."""
    dsm = np.asarray(dsm, dtype="float32")
    low, high = np.min(dsm), np.max(dsm)
    return (dsm - low) / (high - low)


@torch.no_grad()
def host_copy_predict(model: nn.Module, image: np.ndarray, dsm: np.ndarray, num_classes: int, window: int,
                      stride: int, batch_size: int, device: torch.device, amp: bool = False) -> np.ndarray:
    """image (H, W, 3) float32 and dsm (H, W) float32 on the host -> labels (H, W) int64; H, W >= window."""
    height, width = dsm.shape
    pred = np.zeros((height, width, num_classes))                    # H W K, float64 as theirs
    windows = their_windows(height, width, window, stride)
    while chunk := tuple(itertools.islice(windows, batch_size)):    # their grouper
        images = np.asarray([np.copy(image[y:y + window, x:x + window]).transpose((2, 0, 1)) for y, x in chunk])
        dsms = np.asarray([np.copy(dsm[y:y + window, x:x + window]) for y, x in chunk])
        with autocast(device, amp):
            outs = model(torch.from_numpy(images).to(device), torch.from_numpy(dsms).to(device).unsqueeze(1))
        outs = outs.float().cpu().numpy()                            # B K h w, back on the host
        for out, (y, x) in zip(outs, chunk):
            pred[y:y + window, x:x + window] += out.transpose((1, 2, 0))
    return np.argmax(pred, axis=-1)


def their_confusion(predictions: list[np.ndarray], truths: list[np.ndarray], num_classes: int) -> np.ndarray:
    """One confusion matrix (rows truth) over all pixels, labels outside 0..K-1 left out, as
    sklearn.metrics.confusion_matrix(gts, predictions, labels=range(K))."""
    pred = np.concatenate([p.ravel() for p in predictions])
    truth = np.concatenate([t.ravel() for t in truths])
    keep = (truth >= 0) & (truth < num_classes)
    return np.bincount(truth[keep].astype(np.int64) * num_classes + pred[keep],
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)

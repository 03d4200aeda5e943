"""The authors' style of sliding-window evaluation, kept for comparison only (the suite never uses it).

Their test loop (the SSRS lineage: FTransUNet, CMFNet, RS3Mamba, MS2MNet) holds each tile as a numpy
array on the host (H W C), copies every window with np.copy, moves each batch of windows to the device,
copies the logits back to the host and adds them into a float64 (H W K) buffer, then takes the argmax
in numpy. `ms2mnet.engine.inference.sliding_window_logits` does the same arithmetic on the device.
`host_copy_predict` walks the suite's own window corners in the suite's batches, so that both loops see
the same windows and can be compared prediction for prediction.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ms2mnet.data.sampling import sliding_windows
from ms2mnet.engine.inference import autocast


@torch.no_grad()
def host_copy_predict(model: nn.Module, image: np.ndarray, dsm: np.ndarray, num_classes: int, window: int,
                      stride: int, batch_size: int, device: torch.device, amp: bool = False) -> np.ndarray:
    """image (H, W, 3) float32 and dsm (H, W) float32 on the host -> labels (H, W) int64; H, W >= window."""
    height, width = dsm.shape
    corners = sliding_windows(height, width, window, stride)
    pred = np.zeros((height, width, num_classes))                  # H W K, float64 as theirs
    for start in range(0, len(corners), batch_size):
        chunk = corners[start:start + batch_size]
        images = np.asarray([np.copy(image[y:y + window, x:x + window]).transpose((2, 0, 1)) for y, x in chunk])
        dsms = np.asarray([np.copy(dsm[y:y + window, x:x + window]) for y, x in chunk])[:, None]   # B 1 h w
        with autocast(device, amp):
            outs = model(torch.from_numpy(images).to(device), torch.from_numpy(dsms).to(device))
        outs = outs.float().cpu().numpy()                              # B K h w, back on the host
        for out, (y, x) in zip(outs, chunk):
            pred[y:y + window, x:x + window] += out.transpose((1, 2, 0))
    return np.argmax(pred, axis=-1)

"""Confusion matrix accumulated on the device, and the protocol's metrics computed from it.

Protocol (docs/protocol.md): OA over all classes; per-class precision, recall, F1, IoU; mF1 and mIoU over
the first `mean_classes` classes (5: clutter excluded) and over all (the mmsegmentation convention); kappa.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .losses import IGNORE_INDEX


class ConfusionMatrix:
    """Rows: ground truth, columns: prediction. Pixels labelled `ignore_index` are skipped."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu", ignore_index: int = IGNORE_INDEX):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, prediction: Tensor, target: Tensor) -> None:
        keep = target != self.ignore_index
        if ((target[keep] < 0) | (target[keep] >= self.num_classes)).any():
            raise ValueError(f"labels outside 0..{self.num_classes - 1} (and not {self.ignore_index})")
        index = target[keep].long() * self.num_classes + prediction[keep].long()
        self.matrix += torch.bincount(index, minlength=self.num_classes ** 2).view(self.num_classes, -1)


def segmentation_metrics(matrix: Tensor, class_names: list[str], mean_classes: int = 5) -> dict:
    """All metrics as fractions in [0, 1]; classes absent from both truth and prediction give NaN."""
    cm = matrix.double().cpu()
    tp = cm.diag()
    truth, predicted, total = cm.sum(1), cm.sum(0), cm.sum()
    precision = tp / predicted
    recall = tp / truth
    f1 = 2 * tp / (truth + predicted)
    iou = tp / (truth + predicted - tp)
    oa = tp.sum() / total
    expected = (truth * predicted).sum() / total ** 2
    k = mean_classes
    return {
        "oa": oa.item(),
        "mf1": f1[:k].nanmean().item(),
        "miou": iou[:k].nanmean().item(),
        "kappa": ((oa - expected) / (1 - expected)).item(),
        "mf1_6": f1.nanmean().item(),
        "miou_6": iou.nanmean().item(),
        "mean_over_classes": class_names[:k],
        "pixels": int(total.item()),
        "per_class": {
            name: {"precision": precision[i].item(), "recall": recall[i].item(), "f1": f1[i].item(),
                   "iou": iou[i].item()}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.cpu().tolist(),
    }

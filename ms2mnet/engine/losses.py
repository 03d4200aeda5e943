"""Segmentation losses with deep supervision, as configurable presets.

`ce`: cross-entropy on the main and every auxiliary output (optionally class-weighted, as FuseNet
trains; optionally label-smoothed, with a soft Dice term on the main output and a weight on the main
term, as UNetFormer and CMGFNet train). `paper`: the authors' staged recipe
(their released training script, `DeepSupervisionLoss`): the main output gets CE + a*focal(gamma 2)
+ b*boundary-aware CE + c*Lovasz-softmax, with (a, b, c) changing by epoch; the auxiliary outputs
get 0.5*CE + 0.5*focal while focal is on. Undefined pixels (ignore index) never contribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ms2mnet.data.palette import IGNORE as IGNORE_INDEX   # one ignore index for the whole package


def focal_loss(logits: Tensor, target: Tensor, gamma: float = 2.0, alpha: float = 0.25,
               ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Focal loss with the authors' alpha balancing (alpha on classes > 0, 1 - alpha on class 0)."""
    valid = target != ignore_index
    log_pt = -F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    loss = -((1 - log_pt.exp()) ** gamma) * log_pt
    loss = loss * torch.where(target > 0, alpha, 1 - alpha)
    return loss[valid].sum() / valid.sum().clamp(min=1)


def boundary_weights(target: Tensor, num_classes: int, extra: float = 1.5,
                     ignore_index: int = IGNORE_INDEX) -> Tensor:
    """1 + extra * (number of classes whose Sobel edge magnitude exceeds 0.1 at the pixel): (B, H, W).

    Zero padding makes the crop border count as an edge, as in the authors' implementation."""
    one_hot = F.one_hot(target.where(target != ignore_index, 0), num_classes).permute(0, 3, 1, 2).float()
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=target.device)
    kernels = torch.stack([sobel_x, sobel_x.t()]).unsqueeze(1).repeat(num_classes, 1, 1, 1)  # 2K 1 3 3
    edges = F.conv2d(one_hot.repeat_interleave(2, dim=1), kernels, padding=1, groups=2 * num_classes)
    magnitude = edges.view(target.shape[0], num_classes, 2, *target.shape[1:]).pow(2).sum(2).sqrt()
    return 1 + extra * (magnitude > 0.1).float().sum(1)


def boundary_aware_ce(logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    valid = target != ignore_index
    ce = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    weighted = ce * boundary_weights(target, logits.shape[1], ignore_index=ignore_index)
    return weighted[valid].sum() / valid.sum().clamp(min=1)


def lovasz_softmax(logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Lovasz-softmax (Berman et al. 2018) over the classes present in the batch."""
    probs = logits.softmax(1).permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
    labels = target.reshape(-1)
    keep = labels != ignore_index
    probs, labels = probs[keep], labels[keep]
    losses = []
    for c in labels.unique():
        fg = (labels == c).float()
        errors, order = (fg - probs[:, c]).abs().sort(descending=True)
        fg_sorted = fg[order]
        intersection = fg_sorted.sum() - fg_sorted.cumsum(0)
        union = fg_sorted.sum() + (1 - fg_sorted).cumsum(0)
        jaccard = 1 - intersection / union
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])  # gradient of the Lovasz extension
        losses.append(errors @ jaccard)
    return torch.stack(losses).mean() if losses else logits.sum() * 0


def dice_loss(logits: Tensor, target: Tensor, smooth: float = 0.05, eps: float = 1e-7,
              ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Multiclass soft Dice from logits, as UNetFormer trains (its DiceLoss, smooth 0.05): per class over
    the batch, 1 - (2|P∩T| + smooth) / (|P| + |T| + smooth); classes absent from the target add 0 but
    still count in the mean over classes. Ignored pixels leave both P and T."""
    num_classes = logits.shape[1]
    valid = (target != ignore_index).unsqueeze(1)                                      # B 1 H W
    probs = logits.softmax(1) * valid                                                  # B K H W
    truth = F.one_hot(target.where(valid[:, 0], 0), num_classes).permute(0, 3, 1, 2) * valid
    dims = (0, 2, 3)
    intersection = (probs * truth).sum(dims)
    cardinality = (probs + truth).sum(dims)
    score = (2 * intersection + smooth) / (cardinality + smooth).clamp_min(eps)
    return ((1 - score) * (truth.sum(dims) > 0)).mean()


@dataclass(frozen=True)
class Stage:
    """Weights of the extra terms from `from_epoch` (1-based) on."""
    from_epoch: int
    focal: float = 0.0
    boundary: float = 0.0
    lovasz: float = 0.0


def paper_stages(focal: float, boundary: float) -> list[Stage]:
    """The authors' schedule: focal to epoch 30, + boundary to 60, then + Lovasz (focal decays)."""
    return [Stage(1, focal), Stage(31, 0.8 * focal, boundary), Stage(61, 0.6 * focal, boundary, 0.2)]


class DeepSupervisionLoss:
    """main + w_1 * aux_1 + w_2 * aux_2 + ... for a model's (main, *aux) train-mode outputs (or main alone).

    `class_weights` (one per class) weight every cross-entropy term; None: unweighted. `label_smoothing`
    smooths every cross-entropy term, `dice` adds that weight of soft Dice to the main output (UNetFormer),
    and `main_weight` scales the main output's term (CMGFNet averages its three heads: 1/3 each)."""

    def __init__(self, preset: str, aux_weights: Sequence[float], focal: float = 0.6, boundary: float = 0.4,
                 class_weights: Sequence[float] | None = None, ignore_index: int = IGNORE_INDEX,
                 label_smoothing: float = 0.0, dice: float = 0.0, main_weight: float = 1.0) -> None:
        if preset not in ("ce", "paper"):
            raise ValueError(f"unknown loss preset {preset!r}; valid presets: ce, paper")
        self.stages = [Stage(1)] if preset == "ce" else paper_stages(focal, boundary)
        self.aux_weights = tuple(aux_weights)
        self.class_weights = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.ignore_index = ignore_index
        self.label_smoothing, self.dice, self.main_weight = label_smoothing, dice, main_weight

    def cross_entropy(self, logits: Tensor, target: Tensor) -> Tensor:
        weight = None if self.class_weights is None else self.class_weights.to(logits.device)
        return F.cross_entropy(logits, target, weight=weight, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)

    def stage(self, epoch: int) -> Stage:
        return [s for s in self.stages if s.from_epoch <= epoch][-1]

    def __call__(self, outputs: Tensor | Sequence[Tensor], target: Tensor, epoch: int = 1) -> Tensor:
        outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
        if len(outputs) - 1 > len(self.aux_weights):
            raise ValueError(f"{len(outputs) - 1} auxiliary outputs but {len(self.aux_weights)} aux weights")
        stage, ignore = self.stage(epoch), self.ignore_index
        main, *aux = outputs
        loss = self.cross_entropy(main, target)
        if stage.focal:
            loss = loss + stage.focal * focal_loss(main, target, ignore_index=ignore)
        if stage.boundary:
            loss = loss + stage.boundary * boundary_aware_ce(main, target, ignore)
        if stage.lovasz:
            loss = loss + stage.lovasz * lovasz_softmax(main, target, ignore)
        if self.dice:
            loss = loss + self.dice * dice_loss(main, target, ignore_index=ignore)
        loss = self.main_weight * loss
        for weight, logits in zip(self.aux_weights, aux):
            ce = self.cross_entropy(logits, target)
            aux_loss = 0.5 * ce + 0.5 * focal_loss(logits, target, ignore_index=ignore) if stage.focal else ce
            loss = loss + weight * aux_loss
        return loss


def median_frequency_weights(labels: Sequence[np.ndarray], num_classes: int,
                             ignore_index: int = IGNORE_INDEX) -> list[float]:
    """Median frequency balancing (Eigen and Fergus 2015, used by SegNet and FuseNet): weight of class c =
    median(freq) / freq(c), freq(c) = pixels of c / pixels of the tiles where c is present."""
    pixels, present = np.zeros(num_classes), np.zeros(num_classes)
    for label in labels:
        counts = np.bincount(label[label != ignore_index].ravel(), minlength=num_classes)[:num_classes]
        pixels += counts
        present += (counts > 0) * counts.sum()
    if not (pixels > 0).all():
        absent = [c for c in range(num_classes) if pixels[c] == 0]
        raise ValueError(f"median frequency weights: classes {absent} never occur in the training labels")
    freq = pixels / present
    return (np.median(freq) / freq).tolist()

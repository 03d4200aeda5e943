"""Metrics against scikit-learn on random labels with ignored pixels."""

import numpy as np
import pytest
import torch
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, jaccard_score

from ms2mnet.engine.metrics import ConfusionMatrix, segmentation_metrics

NAMES = ["a", "b", "c", "d", "e", "clutter"]


def test_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 6, size=(3, 40, 50))
    truth[rng.random(truth.shape) < 0.1] = 255  # undefined pixels
    # predictions that agree with the truth 70% of the time
    prediction = np.where(rng.random(truth.shape) < 0.7, truth % 255 % 6, rng.integers(0, 6, size=truth.shape))
    cm = ConfusionMatrix(6)
    for t, p in zip(truth, prediction):  # accumulated tile by tile
        cm.update(torch.from_numpy(p), torch.from_numpy(t))
    keep = truth != 255
    t, p = truth[keep], prediction[keep]
    np.testing.assert_array_equal(cm.matrix.numpy(), confusion_matrix(t, p, labels=range(6)))

    m = segmentation_metrics(cm.matrix, NAMES)
    assert m["oa"] == pytest.approx((t == p).mean())
    f1 = f1_score(t, p, labels=range(6), average=None)
    iou = jaccard_score(t, p, labels=range(6), average=None)
    assert m["mf1"] == pytest.approx(f1[:5].mean())
    assert m["miou"] == pytest.approx(iou[:5].mean())
    assert m["mf1_6"] == pytest.approx(f1.mean())
    assert m["miou_6"] == pytest.approx(iou.mean())
    assert m["kappa"] == pytest.approx(cohen_kappa_score(t, p))
    assert m["per_class"]["c"]["iou"] == pytest.approx(iou[2])
    assert m["pixels"] == keep.sum()


def test_out_of_range_labels_are_refused():
    with pytest.raises(ValueError, match="labels outside"):
        ConfusionMatrix(6).update(torch.tensor([0, 1]), torch.tensor([0, 7]))

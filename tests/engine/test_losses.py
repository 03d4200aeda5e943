"""Deep-supervision loss presets."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ms2mnet.engine.losses import DeepSupervisionLoss, boundary_weights, lovasz_softmax, median_frequency_weights


@pytest.fixture
def batch():
    torch.manual_seed(0)
    target = torch.randint(0, 6, (2, 16, 16))
    target[:, :2] = 255
    return [torch.randn(2, 6, 16, 16) for _ in range(3)], target


def test_ce_preset_is_weighted_cross_entropy(batch):
    outputs, target = batch
    loss = DeepSupervisionLoss("ce", (0.3, 0.2))(outputs, target)
    expected = sum(w * F.cross_entropy(o, target, ignore_index=255) for w, o in zip((1, 0.3, 0.2), outputs))
    assert loss.item() == pytest.approx(expected.item())


@pytest.mark.parametrize("epoch", [1, 40, 70])
def test_ignored_pixels_never_contribute(batch, epoch):
    outputs, target = batch
    criterion = DeepSupervisionLoss("paper", (0.3, 0.2))
    changed = [o.clone() for o in outputs]
    for o in changed:
        o[:, :, :2] = 100 * torch.randn_like(o[:, :, :2])
    assert criterion(outputs, target, epoch).item() == pytest.approx(criterion(changed, target, epoch).item())


def test_paper_stages_follow_the_authors_schedule():
    criterion = DeepSupervisionLoss("paper", (0.3, 0.2), focal=0.6, boundary=0.4)
    assert (criterion.stage(30).focal, criterion.stage(30).boundary, criterion.stage(30).lovasz) == (0.6, 0, 0)
    assert criterion.stage(31).focal == pytest.approx(0.48) and criterion.stage(60).boundary == 0.4
    assert criterion.stage(61).lovasz == 0.2 and criterion.stage(61).focal == pytest.approx(0.36)


def test_lovasz_is_zero_for_a_confident_correct_prediction():
    target = torch.randint(0, 6, (1, 8, 8))
    logits = 50 * F.one_hot(target, 6).permute(0, 3, 1, 2).float()
    assert lovasz_softmax(logits, target).item() == pytest.approx(0, abs=1e-6)
    assert lovasz_softmax(-logits, target).item() > 0.9


def test_boundary_weights_rise_only_at_class_edges():
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[:, :, 4:] = 1
    w = boundary_weights(target, 6)
    inner = w[:, 1:-1]  # zero padding makes the crop border an edge too, as in the authors' code
    assert (inner[:, :, 1:3] == 1).all() and (inner[:, :, 5:7] == 1).all()
    assert (inner[:, :, 3:5] == 1 + 1.5 * 2).all()  # two classes change at the edge


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="valid presets: ce, paper"):
        DeepSupervisionLoss("dice", ())


def test_median_frequency_weights_by_hand():
    # class 0: 6 px in 2 tiles of 8 px -> 6/16; class 1: 2 px in 1 tile -> 2/8; class 2: 8 px in 2 tiles -> 8/16
    a = np.array([[0, 0, 0, 0], [1, 1, 2, 2]], dtype=np.uint8)
    b = np.array([[0, 0, 2, 2], [2, 2, 2, 2]], dtype=np.uint8)
    weights = median_frequency_weights([a, b], 3)
    freq = np.array([6 / 16, 2 / 8, 8 / 16])
    assert weights == pytest.approx(np.median(freq) / freq)
    with pytest.raises(ValueError, match=r"classes \[3\] never occur"):
        median_frequency_weights([a, b], 4)


def test_class_weights_change_the_cross_entropy():
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    plain = DeepSupervisionLoss("ce", ())(logits, target)
    assert DeepSupervisionLoss("ce", (), class_weights=[1.0, 1.0, 1.0])(logits, target) == pytest.approx(plain.item())
    weighted = DeepSupervisionLoss("ce", (), class_weights=[1.0, 0.0, 0.0])(logits, target)
    only_class_0 = F.cross_entropy(logits, target, reduction="none")[target == 0].mean()   # weighted mean
    assert weighted.item() == pytest.approx(only_class_0.item())

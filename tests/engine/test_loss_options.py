"""Loss options the baselines train with: label smoothing, a soft Dice term, a main-term weight."""

import pytest
import torch
import torch.nn.functional as F

from ms2mnet.engine.losses import IGNORE_INDEX, DeepSupervisionLoss, dice_loss


@pytest.fixture
def batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))     # class 3 never occurs
    target[0, 0, :3] = IGNORE_INDEX
    return logits, target


def test_dice_is_near_zero_for_a_confident_correct_prediction(batch):
    _, target = batch
    logits = 50 * F.one_hot(target.clamp(max=3), 4).permute(0, 3, 1, 2).float()
    # absent class 3 adds 0 but counts in the mean: 3 present classes of 4, each ~0
    assert dice_loss(logits, target).item() < 1e-3


def test_dice_by_hand(batch):
    logits, target = batch
    valid = target != IGNORE_INDEX
    probs = logits.softmax(1)
    per_class = []
    for c in range(4):
        p, t = probs[:, c][valid], (target[valid] == c).float()
        score = (2 * (p * t).sum() + 0.05) / (p.sum() + t.sum() + 0.05)
        per_class.append((1 - score) * (t.sum() > 0))
    assert torch.allclose(dice_loss(logits, target), torch.stack(per_class).mean(), atol=1e-6)


def test_unetformer_recipe_main_ce_plus_dice_and_weighted_aux(batch):
    logits, target = batch
    aux = logits.flip(1)
    loss = DeepSupervisionLoss("ce", [0.4], label_smoothing=0.05, dice=1.0)((logits, aux), target)
    ce = lambda x: F.cross_entropy(x, target, ignore_index=IGNORE_INDEX, label_smoothing=0.05)  # noqa: E731
    expected = ce(logits) + dice_loss(logits, target) + 0.4 * ce(aux)
    assert torch.allclose(loss, expected)


def test_main_weight_makes_the_loss_an_average_of_heads(batch):
    logits, target = batch
    heads = (logits, logits.flip(1), logits * 2)
    loss = DeepSupervisionLoss("ce", [1 / 3, 1 / 3], main_weight=1 / 3)(heads, target)
    expected = sum(F.cross_entropy(h, target, ignore_index=IGNORE_INDEX) for h in heads) / 3
    assert torch.allclose(loss, expected)


def test_defaults_leave_the_plain_ce_unchanged(batch):
    logits, target = batch
    assert torch.allclose(DeepSupervisionLoss("ce", [])(logits, target),
                          F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX))

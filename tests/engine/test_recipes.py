"""recipe=official: each registration's recipe builds the optimiser and schedule of its official code.

The lr is checked at chosen iterations against values computed by hand from the official settings;
a stand-in module with a `backbone` and a `decoder` (weights and biases) carries the parameter groups."""

import math

import pytest
import torch
from torch import nn

from ms2mnet.engine.optim import add_lookahead, build_optimizer, build_scheduler, step_schedule
from ms2mnet.engine.recipes import RECIPES
from ms2mnet.engine.trainer import TrainSettings
from ms2mnet.models import get_model, shipped_models

pytestmark = pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)`")
BOOKKEEPING = dict(num_workers=0, checkpoint_every=1000, log_every=50)


class StandIn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(3, 4, 3)
        self.decoder = nn.Conv2d(4, 6, 1)


def recipe_settings(model: str, **changes) -> TrainSettings:
    return TrainSettings(**{**BOOKKEEPING, **get_model(model).recipe.train, **changes})


def lrs_at(settings: TrainSettings, iterations: list[int]) -> dict[int, list[float]]:
    """Each group's lr while iteration i (0-based) trains, stepping the schedule as the trainer does."""
    optimizer = build_optimizer(StandIn(), settings)
    scheduler = build_scheduler(optimizer, settings)
    out, done = {}, 0
    for target in sorted(iterations):
        while done < target:
            done += 1
            step_schedule(scheduler, settings, done)
        out[target] = [g["lr"] for g in optimizer.param_groups]
    return out


def test_every_model_registers_a_cited_official_recipe():
    assert RECIPES == ("protocol", "official")
    for name in shipped_models():
        recipe = get_model(name).recipe
        assert recipe is not None and recipe.source and recipe.cites, name
        settings = recipe_settings(name)                    # every value is a training setting
        assert settings.total_iterations > 0


@pytest.mark.parametrize("model, epochs, milestones", [("ftransunet", 50, (25, 35, 45)), ("rs3mamba", 50, (25, 35, 45)),
                                                      ("vfusenet", 50, (25, 35, 45)), ("cmfnet", 100, (25, 35, 45)),
                                                      ("ms2mnet", 100, (15, 25, 35))])
def test_sgd_multistep_recipes(model, epochs, milestones):
    s = recipe_settings(model, iterations_per_epoch=10)   # the schedule counts epochs: 10 iterations keep it short
    assert (s.optimizer, s.lr, s.momentum, s.weight_decay, s.epochs, s.batch_size, s.crop) == (
        "sgd", 0.01, 0.9, 5e-4, epochs, 10, 256)
    first, second, third = (m * 10 for m in milestones)
    lr = lrs_at(s, [0, first - 1, first, second, third, s.total_iterations - 1])
    assert [v[0] for v in lr.values()] == pytest.approx([0.01, 0.01, 1e-3, 1e-4, 1e-5, 1e-5])
    assert len(build_optimizer(StandIn(), s).param_groups) == 1     # their lr/2 groups never reach the optimiser


def test_vfusenet_official_is_unweighted():
    assert get_model("vfusenet").recipe.model == {"loss_weights": {}}


def test_unetformer_adamw_lookahead_cosine_restarts():
    s = recipe_settings("unetformer", iterations_per_epoch=2)
    optimizer = build_optimizer(StandIn(), s)
    assert isinstance(optimizer, torch.optim.AdamW)
    groups = sorted((g["lr"], g["weight_decay"], len(g["params"])) for g in optimizer.param_groups)
    # backbone weight, backbone bias (no decay), decoder weight, decoder bias (no decay)
    assert groups == [(6e-5, 0.0, 1), (6e-5, 0.01, 1), (6e-4, 0.0, 1), (6e-4, 0.01, 1)]
    lr = lrs_at(s, [0, 7 * 2, 15 * 2, 30 * 2, 45 * 2])           # epochs 0, 7, 15 (restart), 30, 45 (restart)
    cosine = [1.0, (1 + math.cos(math.pi * 7 / 15)) / 2, 1.0, (1 + math.cos(math.pi * 15 / 30)) / 2, 1.0]
    for (iteration, values), factor in zip(lr.items(), cosine):
        assert sorted(values) == pytest.approx(sorted([6e-5 * factor] * 2 + [6e-4 * factor] * 2)), iteration
    assert (s.epochs, s.batch_size, s.crop, s.lookahead) == (105, 8, 512, 5)


def test_unetformer_backbone_pattern_names_the_real_backbone():
    import re

    from baselines.unetformer import UNetFormer

    names = [n for n, _ in UNetFormer(6).named_parameters()]
    s = recipe_settings("unetformer")
    pattern = s.param_groups[0]["pattern"]
    assert any(re.match(pattern, n) for n in names) and not all(re.match(pattern, n) for n in names)


def test_lookahead_steps_as_geoseg():
    """SGD lr 1 on loss = w: the fast weight falls by 1 a step; after steps 1, 6, 11 the slow weight moves
    half way and the fast one is reset to it (GeoSeg's Lookahead, k 5, alpha 0.5)."""
    weight = nn.Parameter(torch.zeros(()))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    add_lookahead(optimizer, 5)
    values = []
    for _ in range(11):
        optimizer.zero_grad()
        weight.backward()
        optimizer.step()
        values.append(weight.item())
    # step 1: slow = -1; steps 2-5: -2..-5; step 6: -6 -> -1 + (-6 + 1) / 2 = -3.5; step 11: -8.5 -> -6
    assert values == [-1, -2, -3, -4, -5, -3.5, -4.5, -5.5, -6.5, -7.5, -6.0]
    restored = torch.optim.SGD([nn.Parameter(torch.zeros(()))], lr=1.0)
    restored.load_state_dict(optimizer.state_dict())          # a checkpoint carries the counter and slow weights
    assert restored.param_groups[0]["lookahead_counter"] == 1 and "lookahead_slow" in restored.state_dict()["state"][0]


def test_esanet_nesterov_onecycle_per_epoch():
    s = recipe_settings("esanet", iterations_per_epoch=1)
    optimizer = build_optimizer(StandIn(), s)
    assert optimizer.param_groups[0]["nesterov"] and optimizer.param_groups[0]["weight_decay"] == 1e-4
    lr = lrs_at(s, [0, 49, 499])                 # OneCycle over 500 epoch steps: warm-up over the first 10%
    assert lr[0][0] == pytest.approx(0.01 / 25) and lr[49][0] == pytest.approx(0.01)
    assert lr[499][0] == pytest.approx(0.01 / 25 / 1e4)
    assert (s.epochs, s.batch_size) == (500, 8)


@pytest.mark.parametrize("model, lr0, power, groups", [("cmgfnet", 1e-3, 0.3, {(1e-3, 1e-5)}),
                                                       ("fusenet", 1e-3, 0.9, {(1e-3, 5e-4), (2e-3, 0.0)})])
def test_poly_recipes(model, lr0, power, groups):
    s = recipe_settings(model, iterations_per_epoch=10)   # poly counts iterations: 10 per epoch keeps it short
    optimizer = build_optimizer(StandIn(), s)
    assert {(g["lr"], g["weight_decay"]) for g in optimizer.param_groups} == groups
    total = s.total_iterations
    lr = lrs_at(s, [0, total // 3, total - 1])
    for iteration, values in lr.items():
        assert min(values) == pytest.approx(lr0 * (1 - iteration / total) ** power), iteration
    expected = {"cmgfnet": (torch.optim.Adamax, 30, 16, 256), "fusenet": (torch.optim.SGD, 100, 4, 224)}[model]
    assert (type(optimizer), s.epochs, s.batch_size, s.crop) == expected

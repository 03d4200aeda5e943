"""Parameter and FLOP groups: MS2MNet's declared groups, and the fallback for models that declare none."""

import torch
from torch import nn

from ms2mnet.bench.groups import OTHER, group_of, module_groups
from ms2mnet.bench.params import count_parameters


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_longest_prefix_wins():
    groups = {"decoder": ("decoder",), "heads": ("decoder.head",)}
    assert group_of("decoder.head.conv.weight", groups) == "heads"
    assert group_of("decoder.header.weight", groups) == "decoder"   # a prefix is a whole name component
    assert group_of("stem.weight", groups) == OTHER


def test_ms2mnet_parameters_by_group(full_model):
    m = full_model
    params = count_parameters(m)
    groups = params["by_group"]
    assert params["total"] == numel(m) == sum(groups.values())
    assert params["trainable"] == params["total"]
    assert groups["encoder"] == numel(m.image_trunk) + numel(m.dsm_trunk) + numel(m.dfe)
    assert groups["heads"] == numel(m.decoder.aux_a) + numel(m.decoder.aux_b) + numel(m.decoder.head)
    assert groups["decoder"] == numel(m.decoder) - groups["heads"]
    assert groups["vfe"] == numel(m.vfe) and groups["fusion"] == numel(m.fusion)


def test_frozen_parameters_are_not_trainable(full_model):
    full_model.image_trunk.requires_grad_(False)
    try:
        params = count_parameters(full_model)
        assert params["trainable"] == params["total"] - numel(full_model.image_trunk)
    finally:
        full_model.image_trunk.requires_grad_(True)


def test_flops_by_group_add_up_to_the_total(full_model, full_flops):
    by_group = full_flops.by_group(module_groups(full_model))
    assert sum(by_group.values()) == full_flops.macs
    assert by_group["vfe"] == full_flops.by_module["vfe"]
    # eval mode: the auxiliary heads do not run, so the heads' MACs are the main head's
    assert by_group["heads"] == full_flops.by_module["decoder.head"] > 0
    assert by_group["decoder"] == full_flops.by_module["decoder"] - by_group["heads"]
    assert by_group["other"] > 0  # the final upsampling to the input size, in the model's own forward

class Undeclared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        self.head = nn.Linear(2, 3)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


def test_models_without_groups_fall_back_to_top_level_children():
    model = Undeclared()
    assert module_groups(model) == {"body": ("body",), "head": ("head",)}
    assert count_parameters(model)["by_group"] == {"body": 40 + 18, "head": 9, OTHER: 1}

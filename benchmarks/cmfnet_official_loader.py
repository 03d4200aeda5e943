"""What CMFNet's official training script (sstary/SSRS, CMFNet/trainAndtest.py) loads from vgg16_bn-6c64b313.pth.

The official script pairs the checkpoint's keys with the network's by position,
`zip(vgg16_weights.keys(), net.state_dict().keys())`, keeps the pairs whose VGG key holds "features", copies
each RGB entry to its `_d` (DSM) twin, and calls `net.load_state_dict(mapped)` inside a bare `try/except`.
PyTorch copies every entry whose shape matches before it raises for the missing keys, so what lands is
exactly the same-shape pairs, right or wrong.

This script emulates that with random weights (no download): the network's key order is the official
CMFNet's (conv, then its BN, block by block, RGB encoder first; 7 keys per conv+BN under today's PyTorch,
num_batches_tracked included), and the checkpoint's key order is torchvision's vgg16_bn `features`, either
as the 2017 file holds it (6 keys per conv+BN: it predates num_batches_tracked) or as a vgg16_bn saved today.

    python benchmarks/cmfnet_official_loader.py
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models import vgg16_bn

BLOCKS = [(1, 2, 3, 64), (2, 2, 64, 128), (3, 3, 128, 256), (4, 3, 256, 512), (5, 3, 512, 512)]


def official_encoder(in_channels: int = 3) -> nn.Module:
    """The official CMFNet's RGB encoder, with its attribute names and order (conv1_1, conv1_1_bn, ...)."""
    net = nn.Module()
    for block, convs, first_in, out in BLOCKS:
        for i in range(1, convs + 1):
            setattr(net, f"conv{block}_{i}", nn.Conv2d(first_in if i == 1 else out, out, 3, padding=1))
            setattr(net, f"conv{block}_{i}_bn", nn.BatchNorm2d(out))
        first_in = out
    return net


def truth(vgg_key: str, vgg_names: dict[int, str]) -> str:
    """The official key a torchvision `features.<i>.<param>` key belongs to."""
    _, index, param = vgg_key.split(".")
    return f"{vgg_names[int(index)]}.{param}"


def emulate(with_num_batches_tracked: bool) -> dict:
    torch.manual_seed(0)
    vgg = vgg16_bn(weights=None)
    # Every tensor distinct (torchvision initialises biases to 0 and BN weights to 1, which would match anything)
    checkpoint = OrderedDict((k, torch.randn(v.shape) if v.is_floating_point() else v)
                             for k, v in vgg.state_dict().items()
                             if with_num_batches_tracked or not k.endswith("num_batches_tracked"))
    net = official_encoder()
    net_keys = list(net.state_dict())
    # torchvision's features index -> the official module name, in order (conv, bn, relu, ..., pool)
    modules = [n for n in net_keys if n.endswith(".weight")]
    vgg_layers = [i for i, m in enumerate(vgg.features) if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    vgg_names = dict(zip(vgg_layers, [m.rsplit(".", 1)[0] for m in modules]))
    mapped = {net_key: checkpoint[vgg_key] for vgg_key, net_key in zip(checkpoint, net_keys) if "features" in vgg_key}
    wanted = {truth(k, vgg_names): checkpoint[k] for k in checkpoint if k.startswith("features")}
    target = net.state_dict()
    right = [k for k, v in mapped.items() if v.shape == target[k].shape and torch.equal(v, wanted.get(k, v + 1))]
    wrong = [k for k, v in mapped.items() if v.shape == target[k].shape and k not in right]
    refused = [k for k, v in mapped.items() if v.shape != target[k].shape]
    learned = [k for k in net_keys if not k.endswith(("num_batches_tracked", "running_mean", "running_var"))]
    return {"right": right, "wrong": wrong, "refused": refused, "learned": len(learned),
            "right_learned": [k for k in right if k in learned]}


def main() -> None:
    for label, flag in (("the 2017 file (no num_batches_tracked)", False), ("a vgg16_bn saved today", True)):
        result = emulate(flag)
        print(f"{label}: {len(result['right_learned'])} of {result['learned']} learned encoder tensors land where "
              f"they belong ({', '.join(result['right_learned']) or 'none'}); {len(result['wrong'])} receive another "
              f"layer's tensor of the same shape; {len(result['refused'])} pairs are refused (shape mismatch).")


if __name__ == "__main__":
    main()

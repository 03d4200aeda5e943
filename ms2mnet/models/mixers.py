"""The token mixers VFE can use, by name. A new mixer is a class taking (channels, state_size)
and one line here; each name other than `mssm` (the default) is also an ablation variant."""

from __future__ import annotations

from typing import Any

from torch import nn

from .attention_mixer import SelfAttentionMixer
from .mssm import MSSM
from .ss2d import SelectiveScanMixer

MIXERS: dict[str, type[nn.Module]] = {
    "mssm": MSSM,
    "attention": SelfAttentionMixer,
    "selective_scan": SelectiveScanMixer,
}


def build_mixer(name: str, channels: int, state_size: int, **options: Any) -> nn.Module:
    """`options` go to the mixer's constructor (e.g. MSSM's `gate`)."""
    if name not in MIXERS:
        raise ValueError(f"unknown mixer {name!r}; valid mixers: {', '.join(MIXERS)}")
    return MIXERS[name](channels, state_size, **options)

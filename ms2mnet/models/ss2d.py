"""The `selective_scan` ablation's replacement for MSSM: VMamba's SS2D (a true Mamba scan) in VFE step 2.

x (B, C, H, W) -> (B, C, H, W); SS2D itself works channels-last and lives in `ms2mnet.ops.ss2d`.
**Choice**: SS2D keeps VMamba-T's state size N = 16 at every level; the VFE's per-level state size (MSSM's
number of hidden states, a different quantity) is not used.
"""

from __future__ import annotations

from torch import Tensor, nn

from ms2mnet.ops.ss2d import SS2D

__all__ = ["SS2D", "SelectiveScanMixer"]


class SelectiveScanMixer(nn.Module):
    def __init__(self, channels: int, state_size: int | None = None) -> None:
        super().__init__()
        del state_size  # the interface of every mixer; see the module docstring
        self.ss2d = SS2D(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.ss2d(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)            # B C H W -> B H W C -> B C H W

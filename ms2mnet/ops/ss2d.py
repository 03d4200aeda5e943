"""SS2D, VMamba's 2-D selective scan (VMamba-T defaults), and the four scan orders it uses.

x (B, H, W, C) -> (B, H, W, C). in_proj C -> 2E (E = expand*C) gives x and the gate z; x goes through a
depthwise 3x3 conv and SiLU, is read in four orders (row-major, column-major, and both reversed), and
each order gets its own dt/B/C projections and its own E channels of one grouped selective scan. The four
outputs are put back in row-major order and summed, then LayerNorm(E), times SiLU(z), out_proj E -> C.
Under autocast the scan runs in float32 (its inputs cast up, as VMamba's SS2D does).
Parameter counts: 105,216 / 339,456 / 1,195,008 / 4,454,400 for C = 96 / 192 / 384 / 768.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .selective_scan import selective_scan

DIRECTIONS = 4


def four_scans(x: Tensor) -> Tensor:
    """(B, E, H, W) -> (B, 4, E, L): row-major, column-major, reversed row-major, reversed column-major."""
    rows, cols = x.flatten(2), x.transpose(2, 3).flatten(2)                  # B E L (each)
    forward = torch.stack([rows, cols], dim=1)                                # B 2 E L
    return torch.cat([forward, forward.flip(-1)], dim=1)                      # B 4 E L


def merge_scans(y: Tensor, height: int, width: int) -> Tensor:
    """Inverse of `four_scans`, summed: (B, 4, E, L) -> (B, E, L) in row-major order."""
    y = torch.cat([y[:, :2], y[:, 2:].flip(-1)], dim=1)                       # all four in scan order, forwards
    cols = y[:, 1::2].unflatten(-1, (width, height)).transpose(-1, -2).flatten(-2)  # column-major -> row-major
    return y[:, 0] + y[:, 2] + cols.sum(1)


class SS2D(nn.Module):
    def __init__(self, d_model: int, d_state: int = 16, expand: int = 2, dt_rank: int | None = None,
                 d_conv: int = 3, dt_min: float = 0.001, dt_max: float = 0.1, dt_init_floor: float = 1e-4) -> None:
        super().__init__()
        inner = expand * d_model
        self.inner, self.d_state = inner, d_state
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        self.conv2d = nn.Conv2d(inner, inner, d_conv, padding=d_conv // 2, groups=inner)
        self.x_proj_weight = nn.Parameter(torch.empty(DIRECTIONS, self.dt_rank + 2 * d_state, inner))
        self.dt_projs_weight = nn.Parameter(torch.empty(DIRECTIONS, inner, self.dt_rank))
        self.dt_projs_bias = nn.Parameter(torch.empty(DIRECTIONS, inner))
        self.A_logs = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32))
                                   .repeat(DIRECTIONS * inner, 1))               # A = -(1..N), S4D-real
        self.Ds = nn.Parameter(torch.ones(DIRECTIONS * inner))
        self.out_norm = nn.LayerNorm(inner)
        self.out_proj = nn.Linear(inner, d_model, bias=False)
        self._init_projections(dt_min, dt_max, dt_init_floor)

    @torch.no_grad()
    def _init_projections(self, dt_min: float, dt_max: float, dt_init_floor: float) -> None:
        """As VMamba: x_proj like nn.Linear; dt_proj weights U(+-rank^-0.5); the dt bias is softplus^-1 of
        dt drawn log-uniformly in [dt_min, dt_max], so the scan starts with steps of that size."""
        for weight in self.x_proj_weight:
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        bound = self.dt_rank ** -0.5
        nn.init.uniform_(self.dt_projs_weight, -bound, bound)
        dt = torch.exp(torch.rand(DIRECTIONS, self.inner) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min)).clamp(min=dt_init_floor)
        self.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, x: Tensor) -> Tensor:
        batch, height, width, _ = x.shape
        x, z = self.in_proj(x).chunk(2, dim=-1)                                 # B H W E (each)
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))                          # B E H W
        xs = four_scans(x)                                                      # B 4 E L
        dt, B, C = torch.einsum("bkel,kce->bkcl", xs, self.x_proj_weight).split(
            [self.dt_rank, self.d_state, self.d_state], dim=2)                  # B 4 R L, B 4 N L, B 4 N L
        dt = torch.einsum("bkrl,ker->bkel", dt, self.dt_projs_weight)           # B 4 E L
        # As VMamba: the scan's inputs in float32 (under autocast they arrive in bf16/fp16), and so its output.
        y = selective_scan(xs.flatten(1, 2).float(), dt.flatten(1, 2).float(), -torch.exp(self.A_logs.float()),
                           B.float(), C.float(), self.Ds.float(), delta_bias=self.dt_projs_bias.flatten().float(),
                           delta_softplus=True)                                 # B 4E L, float32
        y = merge_scans(y.unflatten(1, (DIRECTIONS, self.inner)), height, width)  # B E L
        y = self.out_norm(y.transpose(1, 2).view(batch, height, width, self.inner))
        return self.out_proj(y * F.silu(z))

"""MSSM, the multiscale state-space mixer of the VFE block (built on EfficientViM's HSM-SSD).

x (B, C, H, W) -> y (B, C, H, W), cost linear in the L = H*W tokens: the tokens are summarised into
S hidden states, mixed there, and expanded back. Steps follow docs/model.md.

**Choices**: the gate form of step 2, `gate="sigmoid"` (sigmoid of a 1x1 conv blending the 3x3 and
5x5 depthwise branches) or `gate="sum"` (the two branches added, no gate); the ReLU in the
channel-attention MLP of step 6.

A has no effect, faithfully: it is one number per state, constant along the tokens, and softmax over
the tokens ignores a constant shift, so softmax(delta + A) = softmax(delta) and A's gradient is zero
(exactly in real arithmetic, at the rounding level in floating point). EfficientViM's HSM-SSD has the
same property; A is kept because the block it reconstructs has it (S numbers a block, no cost).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MSSM_GATES = ("sigmoid", "sum")


class MSSM(nn.Module):
    def __init__(self, channels: int, state_size: int, attention_reduction: int = 4, *, gate: str = "sigmoid") -> None:
        super().__init__()
        if gate not in MSSM_GATES:
            raise ValueError(f"unknown MSSM gate {gate!r}; valid: {', '.join(MSSM_GATES)}")
        c, s3 = channels, 3 * state_size
        self.state_size = state_size
        self.in_proj = nn.Conv2d(c, s3, 1)
        self.gate = nn.Conv2d(s3, s3, 1) if gate == "sigmoid" else None
        self.local3 = nn.Conv2d(s3, s3, 3, padding=1, groups=s3)
        self.local5 = nn.Conv2d(s3, s3, 5, padding=2, groups=s3)
        self.A = nn.Parameter(torch.empty(state_size).uniform_(1.0, 16.0))
        hidden = max(c // attention_reduction, 1)
        self.channel_attention = nn.Sequential(nn.Linear(c, hidden), nn.ReLU(), nn.Linear(hidden, c), nn.Sigmoid())
        self.hidden_proj = nn.Conv1d(c, 2 * c, 1)
        self.out_proj = nn.Conv1d(c, c, 1)
        self.D = nn.Parameter(torch.ones(1))

    def forward(self, x: Tensor, return_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        batch, c, height, width = x.shape
        p = self.in_proj(x)                                            # B 3S H W
        if self.gate is not None:
            g = torch.sigmoid(self.gate(p))
            m = g * self.local3(p) + (1 - g) * self.local5(p)          # B 3S H W
        else:
            m = self.local3(p) + self.local5(p)                        # B 3S H W
        b, delta, c_out = m.flatten(2).chunk(3, dim=1)                 # B S L (each)
        a = torch.softmax(delta + self.A.view(1, -1, 1), dim=-1)       # B S L, softmax over tokens: A cancels
        h = x.flatten(2) @ (a * b).transpose(1, 2)                     # B C L, B L S -> B C S
        h = h * self.channel_attention(h.mean(-1)).unsqueeze(-1)       # B C S
        h_in, z = self.hidden_proj(h).chunk(2, dim=1)                  # B C S (each)
        h = self.out_proj(h_in * F.silu(z) + self.D * h_in)            # B C S
        y = (h @ c_out).view(batch, c, height, width)                  # B C S, B S L -> B C H W
        return (y, h) if return_state else y

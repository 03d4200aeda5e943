"""DFE, DSM feature enhancement: adds a learned gradient-based correction to the DSM.

(B, 1, H, W) -> (B, 1, H, W). Fixed Sobel kernels give gx, gy and |g|; [dsm, gx, gy, |g|] ->
3x3 conv-BN-ReLU (16 ch) -> 1x1 conv -> 1 ch, added to the DSM. **Choice**: the paper gives only the
module's purpose; this form is our reconstruction (docs/model.md). The last conv starts near zero, so the
module starts close to identity while every weight still receives a gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


class DFE(nn.Module):
    def __init__(self, hidden: int = 16, init_std: float = 1e-3) -> None:
        super().__init__()
        # (2, 1, 3, 3): d/dx and d/dy; a buffer, so it follows .to() but is never trained.
        self.register_buffer("sobel", torch.stack([SOBEL_X, SOBEL_X.t()]).unsqueeze(1), persistent=False)
        self.body = nn.Sequential(
            nn.Conv2d(4, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, 1, 1),
        )
        nn.init.normal_(self.body[-1].weight, std=init_std)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, dsm: Tensor) -> Tensor:
        grad = F.conv2d(F.pad(dsm, (1, 1, 1, 1), mode="replicate"), self.sobel.to(dsm.dtype))  # B 2 H W
        magnitude = torch.sqrt(grad.pow(2).sum(1, keepdim=True) + 1e-12)  # B 1 H W
        return dsm + self.body(torch.cat([dsm, grad, magnitude], dim=1))

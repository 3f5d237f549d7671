"""GMHRA (UniFormerV2 / VideoChat): a learnable temporal token carried across the last K ViT layers.

At layer k a dynamic position encoding (depthwise 3-D convolution over (T, gh, gw)) is added to that layer's patch
tokens, and the temporal token cross-attends over all T x L tokens; attention and MLP outputs are zero-initialised,
so at init the token passes through unchanged. The frame tokens of Z are the last layer's tokens plus a
zero-initialised projection of its position encoding: unchanged at init, able to learn where things are.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GMHRA", "GMHRABlock"]


class GMHRABlock(nn.Module):
    """One layer: DPE on the patches, then the temporal token cross-attends over the layer's tokens."""

    def __init__(self, *, width: int, heads: int, grid: tuple[int, int], mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.grid = grid
        self.dpe = nn.Conv3d(width, width, kernel_size=3, padding=1, groups=width)  # depthwise over (T, gh, gw)
        self.ln_q = nn.LayerNorm(width)
        self.ln_kv = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_mlp = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        for proj in (self.attn.out_proj, self.mlp[2]):
            nn.init.zeros_(proj.weight)
            nn.init.zeros_(proj.bias)

    def position_encoding(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens (B, T, gh*gw, D) -> their dynamic position encoding, same shape."""
        b, t, n, d = x.shape
        gh, gw = self.grid
        v = x.reshape(b, t, gh, gw, d).permute(0, 4, 1, 2, 3)  # (B, D, T, gh, gw)
        return self.dpe(v).permute(0, 2, 3, 4, 1).reshape(b, t, n, d)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, 1, D), layer tokens x (B, T, 1+L, D) -> (new z, patch position encoding (B, T, L, D))."""
        pos = self.position_encoding(x[:, :, 1:])
        kv = torch.cat([x[:, :, :1], x[:, :, 1:] + pos], dim=2).flatten(1, 2)  # (B, T*(1+L), D)
        kv = self.ln_kv(kv)
        z = z + self.attn(self.ln_q(z), kv, kv, need_weights=False)[0]
        z = z + self.mlp(self.ln_mlp(z))
        return z, pos


class GMHRA(nn.Module):
    """Temporal token over the last K layers; builds ``Z = [z_gmhra, frame tokens]``.

    Args:
        width: Token width D of the ViT.
        heads: Cross-attention heads.
        num_layers: K.
        grid: (gh, gw) patch grid of a frame.
    """

    def __init__(self, *, width: int, heads: int, num_layers: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.blocks = nn.ModuleList(GMHRABlock(width=width, heads=heads, grid=grid) for _ in range(num_layers))
        self.frame_pos = nn.Linear(width, width)
        nn.init.zeros_(self.frame_pos.weight)
        nn.init.zeros_(self.frame_pos.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Tokens of the last K layers (B, K, T, 1+L, D) -> Z (B, 1 + T*(1+L), D)."""
        assert hidden.shape[1] == len(self.blocks), f"expected {len(self.blocks)} layers, got {hidden.shape[1]}"
        z = self.token.expand(hidden.shape[0], -1, -1).to(hidden.dtype)  # (B, 1, D)
        pos = None
        for k, block in enumerate(self.blocks):
            z, pos = block(z, hidden[:, k])
        last = hidden[:, -1]  # (B, T, 1+L, D)
        frames = torch.cat([last[:, :, :1], last[:, :, 1:] + self.frame_pos(pos)], dim=2)  # (B, T, 1+L, D)
        return torch.cat([z, frames.flatten(1, 2)], dim=1)

"""Learnable video proxy tokens of CLIP-ViP; proxy 0 becomes the video embedding."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VideoProxy"]


class VideoProxy(nn.Module):
    """M learnable tokens prepended to the patch tokens of all frames.

    Every proxy receives the position embedding of position 0 (the image CLS position) and no temporal embedding:
    proxies summarise the whole clip rather than one place or one instant.
    """

    def __init__(self, *, num_tokens: int, width: int) -> None:
        super().__init__()
        # Same scale as open_clip's class_embedding init.
        self.tokens = nn.Parameter(torch.randn(num_tokens, width) * width**-0.5)

    @property
    def num_tokens(self) -> int:
        """Number of proxies M."""
        return self.tokens.shape[0]

    @torch.no_grad()
    def init_from_(self, token: torch.Tensor, *, noise_std: float = 0.02, generator: torch.Generator | None = None):
        """Initialise every proxy from a CLS token (D,): proxy 0 exactly, the others plus small Gaussian noise.

        The noise keeps the extra proxies distinct from proxy 0 from the first step on.
        """
        if token.shape != self.tokens.shape[1:]:
            raise ValueError(f"token shape {tuple(token.shape)} does not match proxy width {self.tokens.shape[1]}")
        self.tokens.copy_(token.to(self.tokens).expand_as(self.tokens))
        if self.num_tokens > 1:
            noise = torch.randn(self.tokens[1:].shape, generator=generator) * noise_std
            self.tokens[1:] += noise.to(self.tokens)

    def forward(self, batch_size: int, position_embedding: torch.Tensor) -> torch.Tensor:
        """Proxy tokens for a batch, (B, M, D), each plus ``position_embedding`` (D,) of position 0."""
        x = self.tokens + position_embedding.to(self.tokens.dtype)  # (M, D)
        return x.unsqueeze(0).expand(batch_size, -1, -1)  # (B, M, D)

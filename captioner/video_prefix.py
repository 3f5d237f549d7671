"""The video-embedding prefix: a clip's retriever embedding mapped to a few LM input tokens (ClipCap-style MLP).

SVAD-VLM reads per-frame ViT tokens through GMHRA and the Q-Former. A from-scratch tiny captioner trained on ~1k
clips learns from those tokens which subject and setting a clip shows, but rarely its colours and garments. The
retriever's video embedding (its proxy path through all frames, trained contrastively against the descriptions)
already separates clips by those attributes. With ``video_prefix_tokens`` > 0 the captioner also reads that
embedding, as ``P`` tokens placed before the visual queries (Mokady et al. 2021, ClipCap: an MLP maps a CLIP
embedding to a prefix of the LM).

The embedding comes from outside the captioner (``captioner`` never imports ``retrieval``): the caller attaches a
:class:`VideoEmbedder`, a frozen function of the clip's frames named by the id of the model behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["VideoEmbedder", "VideoPrefix"]


@dataclass(frozen=True)
class VideoEmbedder:
    """A frozen clip embedder: ``fn(uint8 frames (B, T, H, W, 3)) -> float (B, dim)``, and the id of its model."""

    fn: Callable[[np.ndarray], torch.Tensor]
    model_id: str
    dim: int

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        out = self.fn(frames)
        if out.ndim != 2 or out.shape[1] != self.dim:
            raise ValueError(f"video embedder {self.model_id} returned {tuple(out.shape)}, expected (B, {self.dim})")
        return out


class VideoPrefix(nn.Module):
    """(B, dim) embeddings -> (B, tokens, width) LM input embeddings through a two-layer tanh MLP."""

    def __init__(self, *, dim: int, tokens: int, width: int) -> None:
        super().__init__()
        if dim < 1 or tokens < 1:
            raise ValueError(f"video prefix needs dim >= 1 and tokens >= 1, got {dim} and {tokens}")
        self.tokens, self.width = tokens, width
        hidden = tokens * width // 2
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, tokens * width))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.mlp(video).view(video.shape[0], self.tokens, self.width)

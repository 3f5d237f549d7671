"""Zero-initialised temporal position embedding, linearly interpolated to the number of frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TemporalEmbedding", "interpolate_temporal"]


def interpolate_temporal(weight: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Resample a temporal embedding (S, D) to (T, D) by linear interpolation.

    Slots and frames are treated as centres of equal segments of the clip (``align_corners=False``): frame t of T
    reads position ``(t + 0.5) * S / T - 0.5`` of the slots, clamped to the ends. This matches frames sampled at
    the centres of T equal intervals, and is the identity when T == S.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if weight.shape[0] == num_frames:
        return weight
    x = weight.t().unsqueeze(0)  # (1, D, S)
    x = F.interpolate(x, size=num_frames, mode="linear", align_corners=False)  # (1, D, T)
    return x.squeeze(0).t()  # (T, D)


class TemporalEmbedding(nn.Module):
    """One learnable vector per temporal slot, added to every patch token of a frame.

    Zero-initialised so that a model loaded from image CLIP weights starts out as per-frame CLIP.
    """

    def __init__(self, *, num_slots: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_slots, width))

    @property
    def num_slots(self) -> int:
        """Number of stored slots S."""
        return self.weight.shape[0]

    def forward(self, num_frames: int) -> torch.Tensor:
        """Embedding per frame, (T, D); interpolated when T differs from the number of slots."""
        return interpolate_temporal(self.weight, num_frames)

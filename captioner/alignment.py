"""Dual visual alignment: ``primary`` (fine-grained data) and ``aux`` (general captions) query -> LM projections."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DualAlignment"]


class DualAlignment(nn.Module):
    """Two linear maps from Q-Former width to the LM embedding width; ``aux`` is absent when ``dual`` is False."""

    def __init__(self, *, in_width: int, out_width: int, dual: bool = True) -> None:
        super().__init__()
        self.primary = nn.Linear(in_width, out_width)
        self.aux = nn.Linear(in_width, out_width) if dual else None

    def forward(self, queries: torch.Tensor, aux_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Queries (B, N, H) -> LM inputs (B, N, E); rows with ``aux_mask`` True go through ``aux``.

        Each row runs through one layer only, so the other layer receives no gradient from it. Without ``aux``
        (single alignment) every row goes through ``primary``.
        """
        if self.aux is None or aux_mask is None or not bool(aux_mask.any()):
            return self.primary(queries)
        if bool(aux_mask.all()):
            return self.aux(queries)
        out = queries.new_empty(*queries.shape[:2], self.primary.out_features)
        out[~aux_mask] = self.primary(queries[~aux_mask])
        out[aux_mask] = self.aux(queries[aux_mask])
        return out

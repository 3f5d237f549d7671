"""Symmetric InfoNCE with a learnable temperature, and CLIP-ViP's omnisource sum over text sources."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

__all__ = ["clamp_logit_scale_", "contrastive_loss", "omnisource_loss"]


def contrastive_loss(
    video: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor, *, same_text: torch.Tensor | None = None
) -> torch.Tensor:
    """Symmetric InfoNCE over matched rows: the mean of video->text and text->video cross-entropies.

    Args:
        video: L2-normalised video embeddings (B, D); row i matches ``text[i]``.
        text: L2-normalised text embeddings (B, D).
        logit_scale: Log inverse temperature (scalar); logits are ``exp(logit_scale) * video @ text.T``.
        same_text: Optional bool (B, B), True where texts i and j are the same string. Those off-diagonal pairs are
            left out of both softmaxes: a general caption shared by several clips ("a man walking in a park") is a
            correct description of each of them, not a negative.

    Returns:
        Scalar loss. Swapping ``video`` and ``text`` gives the same value.
    """
    if video.shape != text.shape or video.ndim != 2:
        raise ValueError(f"video and text must both be (B, D), got {tuple(video.shape)} and {tuple(text.shape)}")
    logits = logit_scale.exp() * video @ text.t()  # (B, B)
    if same_text is not None:
        eye = torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(same_text.to(logits.device) & ~eye, float("-inf"))
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def omnisource_loss(
    video: torch.Tensor,
    texts: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    logit_scale: torch.Tensor,
    weights: Mapping[str, float],
    same_text: Mapping[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of one contrastive loss per text source (CLIP-ViP: video<->ASR and video<->caption).

    Each source covers the clips of the batch that have a text of that kind; the negatives of a pair are the other
    clips that have one. A source with fewer than two pairs has no negatives and is skipped.

    Args:
        video: L2-normalised video embeddings of the batch (B, D).
        texts: Source name -> (text embeddings (n, D), LongTensor (n,) of the rows of ``video`` they describe).
        logit_scale: Log inverse temperature (scalar).
        weights: Source name -> weight; a source without a weight raises.
        same_text: Source name -> bool (n, n) of duplicate texts, left out as negatives (see ``contrastive_loss``).

    Returns:
        ``(total, per_source)``; ``per_source`` holds the unweighted loss of every source used.

    Raises:
        ValueError: If a source has no weight, or no source has two pairs.
    """
    parts: dict[str, torch.Tensor] = {}
    total = video.new_zeros(())
    for name, (emb, rows) in texts.items():
        if name not in weights:
            raise ValueError(f"no loss weight for text source {name!r}; weights given for {sorted(weights)}")
        if rows.numel() < 2:
            continue
        same = same_text.get(name) if same_text else None
        parts[name] = contrastive_loss(video[rows], emb, logit_scale, same_text=same)
        total = total + weights[name] * parts[name]
    if not parts:
        raise ValueError("no text source has two or more pairs in this batch; nothing to contrast")
    return total, parts


@torch.no_grad()
def clamp_logit_scale_(logit_scale: torch.Tensor, max_value: float = math.log(200.0)) -> None:
    """Clamp the log inverse temperature in place to ``[0, max_value]``; call after every optimiser step."""
    logit_scale.clamp_(0.0, max_value)

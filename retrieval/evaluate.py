"""Text-to-video retrieval evaluation of a retriever on a list of clips: every text of a kind is a query."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .dataset import ClipDataset, ClipItem, FrameLoader
from .encode import encode_clips, encode_queries
from .metrics import retrieval_metrics
from .model import VideoTextRetriever

__all__ = ["evaluate_retrieval"]


def evaluate_retrieval(
    model: VideoTextRetriever,
    items: Sequence[ClipItem],
    *,
    query_kinds: Sequence[str] | None = None,
    dataset: ClipDataset | None = None,
    frame_loader: FrameLoader | None = None,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Text->video R@1/5/10 (percent), MdR and MnR per text kind, with all ``items`` as the gallery.

    Args:
        model: The retriever.
        items: Gallery clips; each text of a queried kind is one query whose answer is its clip.
        query_kinds: Text kinds to query with; default every kind present, "reference" first.
        dataset: A ``ClipDataset`` over ``items`` (same order) to reuse its frame cache across calls.
        frame_loader: Frame loader when no dataset is given.
        batch_size: Clips per forward pass.
        device: Where to run (the model is moved there).
        progress: Show a progress bar while encoding clips.

    Returns:
        ``{kind: {"R@1", "R@5", "R@10", "MdR", "MnR", "n_queries", "n_gallery"}}``; kinds without texts are left out.
    """
    if not items:
        raise ValueError("evaluation needs at least one clip")
    if dataset is not None and len(dataset) != len(items):
        raise ValueError(f"dataset has {len(dataset)} clips but {len(items)} items were given")
    source = dataset if dataset is not None else items
    _, videos = encode_clips(
        model, source, batch_size=batch_size, device=device, progress=progress, frame_loader=frame_loader
    )
    if query_kinds is None:
        present = {k for it in items for k, texts in it.texts.items() if texts}
        query_kinds = sorted(present, key=lambda k: (k != "reference", k))
    results: dict[str, dict[str, float]] = {}
    for kind in query_kinds:
        queries = [(t, g) for g, it in enumerate(items) for t in it.texts.get(kind, [])]
        if not queries:
            continue
        q = encode_queries(model, [t for t, _ in queries], device=device)
        sim = q @ videos.T  # (Q, G) cosine similarities
        results[kind] = retrieval_metrics(sim, np.array([g for _, g in queries]))
    return results

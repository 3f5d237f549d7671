"""Pure retrieval metrics over similarity matrices: tie-safe ranks, R@K, median and mean rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["mean_rank", "median_rank", "ranks_from_similarity", "recall_at_k", "retrieval_metrics"]


def ranks_from_similarity(similarity: np.ndarray, targets: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
    """1-based rank of each query's true gallery item, counting ties against it.

    rank = 1 + number of gallery items other than the true one whose score is >= the true item's score, so a tie
    never improves a rank and the result does not depend on the gallery order.

    Args:
        similarity: Scores (Q, G), higher is better; query i's true item is ``targets[i]``.
        targets: Gallery index per query (Q,); ``None`` means the diagonal (Q == G required).

    Returns:
        int64 ranks (Q,), each in [1, G].

    Raises:
        ValueError: On a shape mismatch, a target out of range, or non-finite scores.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be (queries, gallery), got shape {sim.shape}")
    q, g = sim.shape
    if targets is None:
        if q != g:
            raise ValueError(f"targets=None needs a square similarity matrix, got {sim.shape}")
        tgt = np.arange(q)
    else:
        tgt = np.asarray(targets, dtype=np.int64)
        if tgt.shape != (q,):
            raise ValueError(f"targets must have shape ({q},), got {tgt.shape}")
        if q and (tgt.min() < 0 or tgt.max() >= g):
            raise ValueError(f"targets must index the gallery [0, {g}), got range [{tgt.min()}, {tgt.max()}]")
    if not np.isfinite(sim).all():
        raise ValueError("similarity contains NaN or infinite scores")
    true = sim[np.arange(q), tgt]  # (Q,)
    at_least = (sim >= true[:, None]).sum(axis=1)  # counts the true item itself once
    return at_least.astype(np.int64)


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Percentage (0-100) of queries whose true item ranks within the top ``k``."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no ranks given")
    return float(100.0 * np.mean(ranks <= k))


def median_rank(ranks: np.ndarray) -> float:
    """Median rank (MdR); lower is better."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no ranks given")
    return float(np.median(ranks))


def mean_rank(ranks: np.ndarray) -> float:
    """Mean rank (MnR); lower is better."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no ranks given")
    return float(np.mean(ranks))


def retrieval_metrics(
    similarity: np.ndarray, targets: np.ndarray | Sequence[int] | None = None, *, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """``{"R@1", "R@5", "R@10" (percent), "MdR", "MnR", "n_queries", "n_gallery"}`` of a similarity matrix."""
    ranks = ranks_from_similarity(similarity, targets)
    out = {f"R@{k}": recall_at_k(ranks, k) for k in ks}
    out.update(MdR=median_rank(ranks), MnR=mean_rank(ranks))
    out.update(n_queries=int(ranks.size), n_gallery=int(np.asarray(similarity).shape[1]))
    return out

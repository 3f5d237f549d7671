"""Pure retrieval metrics over similarity matrices: tie-safe ranks, R@K, median and mean rank, dual softmax."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "dual_softmax",
    "mean_rank",
    "median_rank",
    "ranks_from_similarity",
    "recall_at_k",
    "recall_curve",
    "retrieval_metrics",
]


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


def recall_curve(ranks: np.ndarray, k_max: int) -> np.ndarray:
    """Recall@K in percent for K = 1..``k_max``: float64 (k_max,), non-decreasing."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no ranks given")
    if k_max < 1:
        raise ValueError(f"k_max must be >= 1, got {k_max}")
    counts = np.bincount(np.clip(ranks, 1, k_max + 1), minlength=k_max + 2)[1 : k_max + 1]
    return 100.0 * np.cumsum(counts) / ranks.size


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


def dual_softmax(similarity: np.ndarray, temperature: float = 100.0) -> np.ndarray:
    """Dual-softmax (DSL) re-scoring of a (queries, gallery) matrix, as in CLIP-ViP's / CamoE's evaluation.

    Each score is multiplied by a softmax over the query axis: ``sim * softmax(temperature * sim, axis=0)``, so a
    gallery item that many queries find similar counts less for each of them. It uses every query of the batch at
    once (a transductive re-ranking), which is why benchmarks report it apart from the plain scores.

    Args:
        similarity: Scores (Q, G), e.g. cosine similarities.
        temperature: Inverse softmax temperature (CLIP-ViP: 100, the CLIP logit scale).

    Returns:
        float64 (Q, G) re-scored matrix.

    Raises:
        ValueError: If the matrix is not 2-D or has non-finite scores.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be (queries, gallery), got shape {sim.shape}")
    if not np.isfinite(sim).all():
        raise ValueError("similarity contains NaN or infinite scores")
    logits = temperature * sim
    logits -= logits.max(axis=0, keepdims=True)  # stable softmax over the query axis
    weights = np.exp(logits)
    weights /= weights.sum(axis=0, keepdims=True)
    return sim * weights

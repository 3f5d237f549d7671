"""Checks and L2 normalisation of the id and vector arrays handed to the index functions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["check_ids", "check_pair", "check_unique", "check_vectors", "chunks", "normalize", "normalized_chunk"]


def check_ids(ids: np.ndarray, name: str = "ids") -> np.ndarray:
    """``ids`` as a contiguous int64 array; ValueError unless 1-D integers in [0, 2**63)."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of clip ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers (clip ids, int64), got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} must fit in int64 (FAISS ids), got a value above 2**63-1")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and int(arr.min()) < 0:
        raise ValueError(f"{name} must be >= 0 (FAISS uses -1 for 'no result'), got {int(arr.min())}")
    return np.ascontiguousarray(arr)


def check_vectors(vectors: np.ndarray, dim: int | None, name: str = "vectors") -> np.ndarray:
    """``vectors`` unchanged; ValueError unless a 2-D float array with ``dim`` columns (any width when None)."""
    arr = np.asarray(vectors)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must hold floats (float32 preferred), got dtype {arr.dtype}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} have dimension {arr.shape[1]} but the index has dimension {dim}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column, got shape {arr.shape}")
    return arr


def check_unique(ids: np.ndarray, name: str = "ids") -> None:
    """ValueError naming a few repeated ids, if any (FAISS would store both copies and return a clip twice)."""
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != ids.size:
        dup = uniq[counts > 1]
        raise ValueError(f"{name} must be unique; {dup.size} repeated, e.g. {dup[:5].tolist()}")


def check_pair(ids: np.ndarray, vectors: np.ndarray, dim: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``check_ids`` + ``check_vectors`` + equal lengths + unique ids."""
    ids, vectors = check_ids(ids), check_vectors(vectors, dim)
    if ids.shape[0] != vectors.shape[0]:
        raise ValueError(f"ids and vectors must have the same length, got {ids.shape[0]} and {vectors.shape[0]}")
    check_unique(ids)
    return ids, vectors


def normalized_chunk(chunk: np.ndarray, offset: int, name: str) -> np.ndarray:
    """A float32 L2-normalised copy of ``chunk``; rows that are not finite or have zero norm are errors."""
    out = np.array(chunk, dtype=np.float32, order="C", copy=True)
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)[:5] + offset
        raise ValueError(f"{name} hold NaN or infinite values, e.g. in rows {bad.tolist()}")
    norms = np.linalg.norm(out, axis=1)
    if not (norms > 0).all():
        bad = np.flatnonzero(~(norms > 0))[:5] + offset
        raise ValueError(f"{name} hold zero vectors (no direction to compare), e.g. rows {bad.tolist()}")
    out /= norms[:, None]
    return out


def normalize(vectors: np.ndarray) -> np.ndarray:
    """A float32, C-contiguous, L2-normalised copy of ``vectors`` (N, D).

    Raises:
        ValueError: if ``vectors`` is not a 2-D float array or holds NaN, infinite or all-zero rows.
    """
    arr = check_vectors(vectors, None)
    return normalized_chunk(arr, 0, "vectors")


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` row ranges of at most ``size`` rows covering ``range(n)``."""
    for start in range(0, n, size):
        yield start, min(n, start + size)

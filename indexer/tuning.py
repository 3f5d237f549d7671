"""Exact ground truth and search-parameter tuning: raise nprobe / efSearch / k_factor until recall@k meets a target."""

from __future__ import annotations

import logging
import time

import faiss
import numpy as np

from indexer._arrays import check_ids, check_pair, check_vectors, chunks, normalize, normalized_chunk
from indexer._layers import Layers
from indexer.faiss_index import SearchParams, describe_index, search

__all__ = ["exact_search", "perturbed_queries", "recall_at_k", "tune_search_params"]

_log = logging.getLogger(__name__)

_EXACT_CHUNK = 131_072  # database rows normalised and scanned at a time by exact_search
_EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096)
_K_FACTOR_LADDER = (1, 2, 4, 8, 16, 32, 64)


def recall_at_k(found_ids: np.ndarray, true_ids: np.ndarray, k: int | None = None) -> float:
    """Mean over queries of ``|found[:k] ∩ true[:k]| / |true[:k]|`` (padding ids ``-1`` are not results).

    Args:
        found_ids: (Q, >=k) ids returned by the index under test.
        true_ids: (Q, >=k) ids of the exact top-k.
        k: Rank cut-off; None: the width of ``true_ids``.

    Returns:
        Recall in [0, 1]; queries with no true result count as 1 (nothing could be missed).
    """
    found, true = np.asarray(found_ids), np.asarray(true_ids)
    if found.ndim != 2 or true.ndim != 2 or found.shape[0] != true.shape[0]:
        raise ValueError(f"found_ids and true_ids must be (Q, k) arrays with equal Q, got {found.shape}, {true.shape}")
    k = true.shape[1] if k is None else k
    if k < 1 or found.shape[1] < k or true.shape[1] < k:
        raise ValueError(f"k={k} must be in [1, min widths] for shapes {found.shape}, {true.shape}")
    hits, total = 0.0, 0.0
    for f, t in zip(found[:, :k], true[:, :k], strict=True):
        t = t[t >= 0]
        if t.size == 0:
            hits, total = hits + 1.0, total + 1.0
            continue
        hits += np.intersect1d(f[f >= 0], t).size / t.size
        total += 1.0
    return hits / total if total else 1.0


def exact_search(
    ids: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    allowed_ids: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` by cosine similarity: the ground truth every index is measured against.

    Scans the database in chunks (normalised copies of at most 131072 rows), so memory stays bounded.

    Args:
        ids: (N,) clip ids of ``vectors``.
        vectors: (N, D) database vectors.
        queries: (Q, D) query vectors.
        k: Results per query.
        allowed_ids: Restrict the database to these ids (the exact answer to a filtered search).

    Returns:
        ``(scores, ids)`` as ``faiss_index.search`` returns them (padding: id -1, score -inf).
    """
    ids, vectors = check_pair(ids, vectors, None)
    q = np.asarray(queries)
    q = normalized_chunk(check_vectors(q[None, :] if q.ndim == 1 else q, vectors.shape[1], "queries"), 0, "queries")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    keep = None
    if allowed_ids is not None:
        keep = np.isin(ids, check_ids(allowed_ids, "allowed_ids"))
    heap = faiss.ResultHeap(q.shape[0], k, keep_max=True)
    for start, stop in chunks(len(ids), _EXACT_CHUNK):
        rows = np.arange(start, stop) if keep is None else start + np.flatnonzero(keep[start:stop])
        if rows.size == 0:
            continue
        x = normalized_chunk(vectors[rows], start, "vectors")
        kk = min(k, rows.size)
        scores, pos = faiss.knn(q, x, kk, metric=faiss.METRIC_INNER_PRODUCT)
        labels = np.where(pos >= 0, ids[rows][np.maximum(pos, 0)], -1)
        if kk < k:  # ResultHeap wants k columns
            scores = np.hstack([scores, np.full((q.shape[0], k - kk), -np.inf, np.float32)])
            labels = np.hstack([labels, np.full((q.shape[0], k - kk), -1, np.int64)])
        heap.add_result(np.ascontiguousarray(scores, np.float32), np.ascontiguousarray(labels, np.int64))
    heap.finalize()
    scores, labels = heap.D.astype(np.float32), heap.I.astype(np.int64)
    pad = labels < 0
    scores[pad], labels[pad] = -np.inf, -1
    return scores, labels


def perturbed_queries(vectors: np.ndarray, n_queries: int, *, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """Queries near the data: a seeded sample of ``vectors`` plus Gaussian noise, L2-normalised.

    The noise vector has norm about ``noise`` (the data rows are unit vectors), so with the default 1.0 a query
    keeps a cosine of about 0.7 with the row it came from: that row is usually still ranked first, and the other
    neighbours are genuine neighbours of a new point rather than an exact duplicate's.
    """
    vectors = check_vectors(vectors, None)
    n, d = vectors.shape
    if n == 0 or n_queries < 1:
        raise ValueError(f"perturbed_queries needs vectors and n_queries >= 1, got {n} vectors, n_queries={n_queries}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(n_queries, n), replace=False))
    q = normalize(vectors[rows])
    q += (noise / np.sqrt(d)) * rng.standard_normal(q.shape, dtype=np.float32)
    return normalize(q)


def _ivf_ladder(nlist: int) -> list[int]:
    ladder, p = [], 1
    while p < nlist:
        ladder.append(p)
        if p >= 2 and p * 3 // 2 < nlist:
            ladder.append(p * 3 // 2)  # half steps: nprobe cost is linear, so powers of two overshoot by up to 2x
        p *= 2
    ladder.append(nlist)
    return sorted(set(ladder))


def tune_search_params(
    index: faiss.Index,
    vectors: np.ndarray | None,
    *,
    ids: np.ndarray | None,
    queries: np.ndarray | None = None,
    true_ids: np.ndarray | None = None,
    k: int = 10,
    target_recall: float = 0.95,
    n_queries: int = 500,
    noise: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> SearchParams:
    """The cheapest search knobs (from a fixed ladder) whose recall@k against exact search reaches the target.

    Ground truth is exact brute force over ``vectors`` (the data the index was built from, all of it), or
    ``true_ids`` when the caller already has it. Queries are ``queries`` when given (held-out vectors, e.g. text
    embeddings: the best choice), else ``n_queries`` perturbed copies of indexed vectors (``perturbed_queries``).
    The index is not modified: pass the result to ``apply_search_params`` or to ``search(params=...)``.

    Ladders: IVF ``nprobe`` 1, 2, 3, 4, 6, 8, 12, … up to ``nlist`` (an HNSW coarse quantizer gets
    ``efSearch = max(2·nprobe, 32)``); HNSW ``efSearch`` 16 … 4096; refine indexes first raise ``nprobe`` with
    ``k_factor`` 64, then lower ``k_factor`` as long as the target still holds. Exact (Flat) indexes return
    recall 1.0 without searching. When even the top of a ladder misses the target, the top is returned with its
    measured recall and a warning is logged.

    Args:
        index: The index to tune (built from ``ids`` / ``vectors``).
        vectors: (N, D) all vectors in the index (ground truth needs every one); may be None with ``true_ids``.
        ids: (N,) their clip ids; may be None with ``true_ids``.
        queries: (Q, D) held-out queries; None: perturbed samples of ``vectors``.
        true_ids: (Q, >=k) exact top-k ids of ``queries`` (e.g. from ``exact_search``), to skip the brute force
            when tuning several indexes over the same data.
        k: Recall cut-off (the result's ``recall_at_10`` is recall@k; 10 by default).
        target_recall: Recall to reach, in (0, 1].
        n_queries: Number of perturbed queries when ``queries`` is None.
        noise: Perturbation size for generated queries (see ``perturbed_queries``).
        seed: Seed of the generated queries.
        progress: Show a progress bar over the ladder.

    Returns:
        The chosen ``SearchParams`` with the recall measured for them.
    """
    if not 0.0 < target_recall <= 1.0:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
    parts = Layers.of(index)
    if parts.exact:
        return SearchParams(recall_at_10=1.0)
    t0 = time.perf_counter()
    if true_ids is not None:
        if queries is None:
            raise ValueError("true_ids needs the queries they answer")
        q = normalize(queries)
        true_ids = np.asarray(true_ids)
        if true_ids.ndim != 2 or true_ids.shape[0] != q.shape[0] or true_ids.shape[1] < k:
            raise ValueError(f"true_ids must be ({q.shape[0]}, >={k}), got {true_ids.shape}")
    else:
        if vectors is None or ids is None:
            raise ValueError("tuning needs the indexed vectors and ids (or queries with true_ids)")
        ids, vectors = check_pair(ids, vectors, index.d)
        if len(ids) != index.ntotal:
            raise ValueError(
                f"tuning needs every indexed vector for exact ground truth: got {len(ids)}, index holds {index.ntotal}"
            )
        if len(ids) == 0:
            raise ValueError("cannot tune an empty index")
        q = perturbed_queries(vectors, n_queries, noise=noise, seed=seed) if queries is None else normalize(queries)
        _, true_ids = exact_search(ids, vectors, q, k)
    from media.progress import progress_bar  # here, not at the top: the search path does not import media

    bar = progress_bar(desc="tune", unit="try", enabled=progress)

    def measure(p: SearchParams) -> SearchParams:
        _, found = search(index, q, k, params=p)
        bar.update(1)
        r = recall_at_k(found, true_ids, k)
        _log.debug("%s: recall@%d %.4f", p, k, r)
        return SearchParams(nprobe=p.nprobe, efSearch=p.efSearch, k_factor=p.k_factor, recall_at_10=r)

    def climb(candidates: list[SearchParams]) -> SearchParams:
        best = None
        for p in candidates:
            best = measure(p)
            if best.recall_at_10 >= target_recall:
                break
        assert best is not None, "a ladder is never empty"
        return best

    if parts.ivf is not None:
        nlist = parts.ivf.nlist
        k_factor = _K_FACTOR_LADDER[-1] if parts.refine is not None else None
        ef = (lambda p: max(2 * p, 32)) if parts.quantizer_hnsw is not None else (lambda p: None)
        best = climb([SearchParams(nprobe=p, efSearch=ef(p), k_factor=k_factor) for p in _ivf_ladder(nlist)])
        if parts.refine is not None and best.recall_at_10 >= target_recall:
            for kf in reversed(_K_FACTOR_LADDER[:-1]):
                trial = measure(SearchParams(nprobe=best.nprobe, efSearch=best.efSearch, k_factor=kf))
                if trial.recall_at_10 < target_recall:
                    break
                best = trial
    elif parts.hnsw is not None:
        best = climb([SearchParams(efSearch=max(ef, k)) for ef in _EF_LADDER])
    else:
        bar.close()
        raise ValueError(f"do not know how to tune a {describe_index(index)} index (no nprobe, efSearch or k_factor)")
    bar.close()
    log = _log.warning if best.recall_at_10 < target_recall else _log.info
    log(
        "tuned %s: %s gives recall@%d %.4f (target %.2f) on %d queries in %.1f s",
        describe_index(index),
        best,
        k,
        best.recall_at_10,
        target_recall,
        len(q),
        time.perf_counter() - t0,
    )
    return best

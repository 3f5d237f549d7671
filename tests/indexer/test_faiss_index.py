"""FAISS index build, search, filters, add/remove and tuning, checked against numpy brute force on seeded data."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

import indexer.tuning as tuning
from indexer.faiss_index import (
    EXACT_MAX,
    IVF_MAX,
    SearchParams,
    UnsupportedIndexOperationError,
    add_to_index,
    apply_search_params,
    build_index,
    choose_factory,
    current_search_params,
    describe_index,
    index_ids,
    normalize,
    remove_from_index,
    search,
    supports_remove,
    train_index,
)
from indexer.tuning import exact_search, perturbed_queries, recall_at_k, tune_search_params

N, DIM, K = 20_000, 32, 10
ID_BASE = 2**62  # clip ids are large (video_id * 1024 + shot): make sure nothing truncates them


pytestmark = pytest.mark.usefixtures("one_faiss_thread")


def clustered(n: int, d: int, seed: int, n_clusters: int = 50) -> np.ndarray:
    """Unnormalised vectors from a Gaussian mixture with a power-law (1/i) covariance: clustered, like embeddings,
    with neighbourhoods that cut across clusters (uniform data is unrealistically hard, well-separated blobs
    unrealistically easy)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    scale = np.arange(1, d + 1, dtype=np.float32) ** -0.5
    scale /= np.linalg.norm(scale)
    rot = np.linalg.qr(rng.standard_normal((d, d)))[0].astype(np.float32)
    noise = (rng.standard_normal((n, d), dtype=np.float32) * scale) @ rot
    return (0.5 * centers[rng.integers(0, n_clusters, n)] + noise).astype(np.float32)


def clip_ids(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (ID_BASE + rng.choice(2**40, size=n, replace=False)).astype(np.int64)


def brute_force(ids, vectors, queries, k, allowed=None):
    """Exact top-k by cosine with plain numpy (independent of FAISS): the ground truth."""
    x, q = normalize(vectors), normalize(queries)
    if allowed is not None:
        mask = np.isin(ids, allowed)
        ids, x = ids[mask], x[mask]
    scores = q @ x.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top_ids = np.full((len(q), k), -1, np.int64)
    top_scores = np.full((len(q), k), -np.inf, np.float32)
    top_ids[:, : order.shape[1]] = ids[order]
    top_scores[:, : order.shape[1]] = np.take_along_axis(scores, order, axis=1)
    return top_scores, top_ids


@pytest.fixture(scope="module")
def data():
    x = clustered(N + 300, DIM, seed=0)
    return clip_ids(N), x[:N], x[N : N + 200], x[N + 200 :]  # ids, vectors, tuning queries, held-out queries


@pytest.fixture(scope="module")
def built(data):
    """One index per type, tuned once (building HNSW is the slow part of this module)."""
    ids, x, tune_q, _ = data
    out = {}
    for name, factory in {"flat": None, "ivf": "IVF128,Flat", "hnsw": "HNSW32"}.items():
        index = build_index(ids, x, factory=factory, seed=0)
        out[name] = (index, tune_search_params(index, x, ids=ids, queries=tune_q))
    return out


# ---------------------------------------------------------------------------------------------------------------
# choosing a type


@pytest.mark.parametrize(
    ("n", "dim", "expected"),
    [
        (0, 256, "IDMap2,Flat"),
        (EXACT_MAX - 1, 256, "IDMap2,Flat"),
        (EXACT_MAX, 256, "IVF1024,Flat"),  # 4*sqrt(1e5) = 1265 -> 1024
        (IVF_MAX - 1, 256, "IVF4096,Flat"),  # 4*sqrt(1e6) = 4000 -> 4096
        (IVF_MAX, 256, "IDMap2,IVF4096,PQ64x4fsr,Refine(SQ8)"),
        (10**8, 256, "IDMap2,IVF32768_HNSW32,PQ64x4fsr,Refine(SQ8)"),  # 40000 -> 32768: HNSW coarse quantizer
        (IVF_MAX, 32, "IVF4096,Flat"),  # too few dims for PQ
        (IVF_MAX, 100, "IDMap2,IVF4096,PQ20x4fsr,Refine(SQ8)"),  # 100/4 = 25 is odd: 20 divides 100
    ],
)
def test_choose_factory_follows_the_size_rule(n, dim, expected):
    factory = choose_factory(n, dim)
    assert factory == expected
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)  # a string FAISS accepts
    assert index.metric_type == faiss.METRIC_INNER_PRODUCT


def test_choose_factory_rejects_nonsense():
    with pytest.raises(ValueError, match="dim"):
        choose_factory(10, 0)


# ---------------------------------------------------------------------------------------------------------------
# exact search and input checks


def test_flat_search_equals_brute_force(data, built):
    ids, x, _, queries = data
    index, params = built["flat"]
    assert describe_index(index) == "IndexIDMap2 > IndexFlat"
    assert params.recall_at_10 == 1.0
    scores, found = search(index, queries, K)
    true_scores, true_ids = brute_force(ids, x, queries, K)
    np.testing.assert_array_equal(found, true_ids)
    np.testing.assert_allclose(scores, true_scores, atol=1e-5)
    assert scores.dtype == np.float32 and found.dtype == np.int64
    assert found.min() >= ID_BASE  # large ids survive


def test_build_does_not_touch_the_callers_array(data):
    ids, x, _, _ = data
    before = x[:500].copy()
    build_index(ids[:500], x[:500])
    np.testing.assert_array_equal(x[:500], before)


def test_one_query_vector_and_k_beyond_ntotal_pad_with_minus_one(data):
    ids, x, _, queries = data
    index = build_index(ids[:5], x[:5])
    scores, found = search(index, queries[0], 8)
    assert found.shape == (1, 8)
    assert sorted(found[0, :5].tolist()) == sorted(ids[:5].tolist())
    assert (found[0, 5:] == -1).all() and np.isneginf(scores[0, 5:]).all()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ids, x: (ids[:-1], x), "same length"),
        (lambda ids, x: (np.r_[ids[:-1], ids[:1]], x), "unique"),
        (lambda ids, x: (ids.astype(np.float64), x), "integers"),
        (lambda ids, x: (np.r_[ids[:-1], -5], x), ">= 0"),
        (lambda ids, x: (ids, x[:, 0]), "2-D"),
        (lambda ids, x: (ids, x.astype(np.int32)), "floats"),
        (lambda ids, x: (ids, np.where(np.arange(len(x))[:, None] == 3, np.nan, x)), "NaN"),
        (lambda ids, x: (ids, np.where(np.arange(len(x))[:, None] == 7, 0.0, x)), "zero vectors"),
    ],
)
def test_build_rejects_bad_inputs_with_a_clear_message(data, mutate, message):
    ids, x, _, _ = data
    bad_ids, bad_x = mutate(ids[:50].copy(), x[:50].copy())
    with pytest.raises(ValueError, match=message):
        build_index(bad_ids, bad_x)


def test_build_rejects_an_invalid_factory(data):
    ids, x, _, _ = data
    with pytest.raises(ValueError, match="invalid FAISS factory string 'NoSuchIndex'"):
        build_index(ids[:50], x[:50], factory="NoSuchIndex")


def test_search_rejects_bad_queries(built):
    index, _ = built["flat"]
    with pytest.raises(ValueError, match="dimension 5 but the index has dimension 32"):
        search(index, np.ones((2, 5), np.float32), K)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        search(index, np.ones((2, DIM), np.float32), 0)


# ---------------------------------------------------------------------------------------------------------------
# approximate indexes: tuning


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_tuned_recall_reaches_target_on_held_out_queries(data, built, kind):
    ids, x, _, queries = data
    index, params = built[kind]
    assert params.recall_at_10 >= 0.95
    _, true_ids = brute_force(ids, x, queries, K)
    _, found = search(index, queries, K, params=params)
    assert recall_at_k(found, true_ids) >= 0.95
    # The knobs mattered: the bottom of the ladder is well below target, and tuning did not just max them out.
    _, cheap = search(index, queries, K, params=SearchParams(nprobe=1, efSearch=K))
    assert recall_at_k(cheap, true_ids) < 0.95
    if kind == "ivf":
        assert 1 < params.nprobe < faiss.extract_index_ivf(index).nlist
    else:
        assert K <= params.efSearch < 1024


def test_tuning_an_exact_index_needs_no_search():
    index = build_index(np.arange(3), np.eye(3, dtype=np.float32))
    # No vectors to search with: an exact index is answered without measuring.
    assert tune_search_params(index, np.empty((0, 3), np.float32), ids=np.empty(0, np.int64)).recall_at_10 == 1.0


def test_tuning_needs_every_indexed_vector(data, built):
    ids, x, _, _ = data
    with pytest.raises(ValueError, match="every indexed vector"):
        tune_search_params(built["ivf"][0], x[:100], ids=ids[:100])


def test_refine_index_tunes_k_factor_and_filters(data):
    """The millions-tier type (PQ fast-scan re-ranked by SQ8) at small scale, including its selector path."""
    x = clustered(N + 100, 64, seed=3)
    ids, x, queries = clip_ids(N, seed=3), x[:N], x[N:]
    index = build_index(ids, x, factory="IVF64,PQ16x4fsr,Refine(SQ8)")
    assert describe_index(index) == "IndexIDMap2 > IndexRefine > IndexIVFPQFastScan"
    assert not supports_remove(index)
    params = tune_search_params(index, x, ids=ids, n_queries=200)
    assert params.k_factor is not None and params.nprobe is not None
    _, true_ids = brute_force(ids, x, queries, K)
    _, found = search(index, queries, K, params=params)
    assert recall_at_k(found, true_ids) >= 0.95
    allowed = ids[np.random.default_rng(0).random(N) < 0.1]
    _, true_f = brute_force(ids, x, queries, K, allowed)
    _, found_f = search(index, queries, K, params=params, allowed_ids=allowed)
    # IndexRefine ignores the selector IDMap2 hands it; search() must translate it for the base index itself.
    assert np.isin(found_f[found_f >= 0], allowed).all()
    assert recall_at_k(found_f, true_f) >= 0.95


def test_perturbed_queries_are_seeded_unit_vectors(data):
    _, x, _, _ = data
    a, b = perturbed_queries(x, 50, seed=1), perturbed_queries(x, 50, seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(a, perturbed_queries(x, 50, seed=2))


def test_recall_at_k_counts_set_overlap_and_ignores_padding():
    true = np.array([[1, 2, 3], [4, 5, -1], [-1, -1, -1]])
    found = np.array([[3, 9, 1], [5, -1, -1], [7, 8, 9]])
    # query 1: 2 of 3; query 2: 1 of the 2 real results; query 3: nothing to find counts as found
    assert recall_at_k(found, true) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


def test_exact_search_merges_chunks_like_one_scan(data, monkeypatch):
    ids, x, _, queries = data
    monkeypatch.setattr(tuning, "_EXACT_CHUNK", 777)  # many chunks, the last one partial
    allowed = ids[::37]
    for allow in (None, allowed):
        scores, found = exact_search(ids, x, queries[:20], K, allowed_ids=allow)
        true_scores, true_ids = brute_force(ids, x, queries[:20], K, allow)
        np.testing.assert_array_equal(found, true_ids)
        np.testing.assert_allclose(scores, true_scores, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# filters


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
@pytest.mark.parametrize("selectivity", [0.01, 0.1])
def test_filtered_search_returns_only_allowed_ids_and_the_exact_filtered_hits(data, built, kind, selectivity):
    ids, x, _, queries = data
    queries = queries[:40] if kind == "hnsw" else queries  # HNSW widens its beam 100x for a 1% filter: slow
    index, params = built[kind]
    allowed = ids[np.random.default_rng(7).random(N) < selectivity]
    true_scores, true_ids = brute_force(ids, x, queries, K, allowed)
    scores, found = search(index, queries, K, params=params, allowed_ids=allowed)
    assert np.isin(found[found >= 0], allowed).all()
    if kind == "flat":
        np.testing.assert_array_equal(found, true_ids)
        np.testing.assert_allclose(scores, true_scores, atol=1e-5)
    else:
        assert recall_at_k(found, true_ids) >= 0.95
        unfiltered = search(index, queries, K, params=params)[1]
        assert recall_at_k(unfiltered, true_ids) < 0.5  # post-filtering the plain top-k would have failed


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_empty_filter_gives_no_hits_and_no_error(data, built, kind):
    _, _, _, queries = data
    index, _ = built[kind]
    scores, found = search(index, queries[:3], K, allowed_ids=np.array([], dtype=np.int64))
    assert (found == -1).all() and np.isneginf(scores).all()
    assert found.shape == (3, K)
    # Ids that are not in the index select nothing either.
    _, found = search(index, queries[:3], K, allowed_ids=np.array([1, 2, 3]))
    assert (found == -1).all()


def test_filter_passes_through_a_pretransform_wrapper(data):
    """Selectors and nprobe reach an IVF inside IndexPreTransform (the OPQ/PCA wrapper)."""
    ids, x, _, queries = data
    index = build_index(ids, x, factory="L2norm,IVF64,Flat")
    assert describe_index(index) == "IndexPreTransform > IndexIVFFlat"
    apply_search_params(index, SearchParams(nprobe=64))  # every list: exact
    allowed = ids[::50]
    _, found = search(index, queries, K, allowed_ids=allowed)
    np.testing.assert_array_equal(found, brute_force(ids, x, queries, K, allowed)[1])


# ---------------------------------------------------------------------------------------------------------------
# search parameters


def test_apply_search_params_reaches_through_wrappers(built):
    ivf, _ = built["ivf"]
    hnsw, _ = built["hnsw"]
    apply_search_params(ivf, SearchParams(nprobe=7))
    apply_search_params(hnsw, SearchParams(efSearch=77))
    assert faiss.extract_index_ivf(ivf).nprobe == 7
    assert faiss.downcast_index(faiss.downcast_index(hnsw).index).hnsw.efSearch == 77
    assert current_search_params(ivf).nprobe == 7 and current_search_params(hnsw).efSearch == 77
    with pytest.raises(ValueError, match="nprobe must be a positive integer"):
        apply_search_params(ivf, SearchParams(nprobe=0))


def test_per_call_params_do_not_change_the_index(data, built):
    _, _, _, queries = data
    index, _ = built["ivf"]
    apply_search_params(index, SearchParams(nprobe=2))
    narrow = search(index, queries, K)[1]
    wide = search(index, queries, K, params=SearchParams(nprobe=128))[1]
    assert current_search_params(index).nprobe == 2
    assert not np.array_equal(narrow, wide)
    np.testing.assert_array_equal(search(index, queries, K)[1], narrow)


# ---------------------------------------------------------------------------------------------------------------
# incremental add and removal


def test_incremental_add_to_flat_equals_a_full_build(data):
    ids, x, _, queries = data
    full = build_index(ids[:6000], x[:6000])
    part = build_index(ids[:4000], x[:4000])
    add_to_index(part, ids[4000:6000], x[4000:6000])
    for a, b in zip(search(full, queries, K), search(part, queries, K), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("factory", ["Flat", "IVF4,Flat"])
def test_tied_scores_come_back_by_clip_id_whatever_the_insertion_order(factory):
    # 40 clips share one vector (a tie that runs past k and past the fetch margin), 40 others are distinct.
    rng = np.random.default_rng(3)
    tied = np.tile(rng.standard_normal((1, DIM)).astype(np.float32), (40, 1))
    other = rng.standard_normal((40, DIM)).astype(np.float32) * 0.1
    ids = clip_ids(80, seed=4)
    x = np.concatenate([tied, other])
    query = tied[:1] + 0.01 * rng.standard_normal((1, DIM)).astype(np.float32)
    results = []
    for order in (np.arange(80), np.arange(80)[::-1], rng.permutation(80)):
        index = build_index(ids[order], x[order], factory=factory, seed=0)
        scores, got = search(index, query, 30, params=SearchParams(nprobe=4) if factory != "Flat" else None)
        results.append(got[0].tolist())
        assert np.all(np.diff(scores[0]) <= 0)
    assert results[0] == results[1] == results[2]
    assert results[0] == sorted(ids[:40].tolist())[:30]  # the tie is cut by clip id, not by FAISS's heap


def test_incremental_add_to_ivf_with_the_same_quantizer_equals_a_full_build(data):
    ids, x, _, queries = data
    trained = train_index(x, factory="IVF64,Flat", seed=1)
    full, part = faiss.clone_index(trained), faiss.clone_index(trained)
    add_to_index(full, ids, x)
    add_to_index(part, ids[:12_000], x[:12_000])
    add_to_index(part, ids[12_000:], x[12_000:], chunk_size=3000)
    params = SearchParams(nprobe=8)
    for a, b in zip(search(full, queries, K, params=params), search(part, queries, K, params=params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(index_ids(part).tolist()) == sorted(ids.tolist())


def test_add_refuses_ids_already_in_the_index(data):
    ids, x, _, _ = data
    index = build_index(ids[:100], x[:100])
    with pytest.raises(ValueError, match="already in the index"):
        add_to_index(index, ids[90:110], x[90:110])
    assert index.ntotal == 100


@pytest.mark.parametrize("factory", ["Flat", "IVF32,Flat"])
def test_remove_hides_ids(data, factory):
    ids, x, _, queries = data
    n = 5000
    index = build_index(ids[:n], x[:n], factory=factory)
    apply_search_params(index, SearchParams(nprobe=32))  # all lists: exact, so results are comparable
    top = search(index, queries, K)[1]
    gone = np.unique(top[:, :3])
    assert remove_from_index(index, np.r_[gone, 12345]) == gone.size  # an unknown id is ignored
    assert index.ntotal == n - gone.size
    keep = ~np.isin(ids[:n], gone)
    _, found = search(index, queries, K)
    assert not np.isin(found, gone).any()
    np.testing.assert_array_equal(found, brute_force(ids[:n][keep], x[:n][keep], queries, K)[1])


def test_remove_from_hnsw_names_the_type(built):
    index, _ = built["hnsw"]
    with pytest.raises(UnsupportedIndexOperationError, match="IndexHNSWFlat"):
        remove_from_index(index, np.array([ID_BASE]))


# ---------------------------------------------------------------------------------------------------------------
# GPU plumbing (faiss-cpu here: a CPU stand-in for the GPU copies checks the wiring, not CUDA)


def test_gpu_path_gives_the_cpu_result(data, monkeypatch):
    ids, x, _, queries = data
    cpu = build_index(ids[:5000], x[:5000], factory="IVF32,Flat", use_gpu=False)
    with pytest.raises(ValueError, match="sees no GPU"):
        build_index(ids[:50], x[:50], use_gpu=True)
    copies = []

    def fake_to_gpu(index):
        copies.append(index)
        return faiss.clone_index(index)

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", fake_to_gpu, raising=False)
    gpu = build_index(ids[:5000], x[:5000], factory="IVF32,Flat")
    assert len(copies) == 2  # the k-means index and the coarse quantizer for assignment
    ivf = faiss.extract_index_ivf(gpu)
    assert ivf.clustering_index is None  # not saved with the index
    assert isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexFlat)
    params = SearchParams(nprobe=4)
    for a, b in zip(search(cpu, queries, K, params=params), search(gpu, queries, K, params=params), strict=True):
        np.testing.assert_array_equal(a, b)

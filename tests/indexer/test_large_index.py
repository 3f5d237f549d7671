"""indexer.large_index: shard-by-shard IVF-PQ builds, resume, mmap/on-disk search, exact re-ranking, bad input."""

from __future__ import annotations

import json
import shutil

import faiss
import numpy as np
import pytest

from indexer.large_index import (
    LargeIndex,
    LargeSearchParams,
    VectorStoreSource,
    build_large_index,
    exact_search_chunks,
    large_factory,
    merge_shards_ondisk,
    train_large_index,
)
from indexer.vectors import VectorStore

DIM = 32
N = 3000
FACTORY = "IVF16,PQ8np"
K = 10


def clustered(n: int, seed: int, dim: int = DIM, n_clusters: int = 30) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1000).standard_normal((n_clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, n_clusters, n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    ids = np.random.default_rng(3).permutation(10 * N)[:N].astype(np.int64) + 7  # scattered, not 0..N-1
    return ids, clustered(N, 0), clustered(50, 1)


def chunked(ids, x, size=700):
    return [(ids[s : s + size], x[s : s + size]) for s in range(0, len(ids), size)]


def exact(ids, x, q, k=K):
    xn = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)
    return exact_search_chunks([(ids, xn)], q, k)


def recall(found, truth):
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


@pytest.fixture(scope="module")
def built(tmp_path_factory, data):
    ids, x, _ = data
    path = tmp_path_factory.mktemp("large") / "idx"
    faiss.omp_set_num_threads(1)
    manifest = build_large_index(path, chunked(ids, x), factory=FACTORY, train_sample=x, shard_size=1000, seed=0)
    return path, manifest


def test_shards_hold_every_vector_once_and_reranked_search_is_exact_at_full_probe(built, data):
    path, manifest = built
    ids, x, q = data
    assert manifest["complete"] and [s["n"] for s in manifest["shards"]] == [1000, 1000, 1000]
    index = LargeIndex(path)
    assert index.ntotal == N
    stored = np.concatenate([i for i, _ in index.iter_vectors(chunk=512)])
    assert np.array_equal(stored, ids)  # shard by shard, in source order
    # every list probed and every vector re-ranked: the result must equal exact search (float16-rounded vectors)
    scores, found = index.search(q, K, LargeSearchParams(nprobe=16, rerank=N))
    t_scores, t_ids = exact(ids, x, q)
    assert np.array_equal(found, t_ids)
    np.testing.assert_allclose(scores, t_scores, rtol=0, atol=1e-5)
    _, e_ids = index.exact_search(q, K)
    assert np.array_equal(e_ids, t_ids)


def test_recall_against_exact_search_on_clustered_data(built, data):
    path, _ = built
    ids, x, q = data
    _, truth = exact(ids, x, q)
    index = LargeIndex(path)
    _, pq_only = index.search(q, K, LargeSearchParams(nprobe=4, rerank=0))
    _, reranked = index.search(q, K, LargeSearchParams(nprobe=4, rerank=100))
    assert recall(reranked, truth) >= 0.95
    assert recall(reranked, truth) >= recall(pq_only, truth)


def test_one_build_equals_a_chunked_build_and_shard_size_does_not_change_results(tmp_path, data):
    ids, x, q = data
    a = build_large_index(tmp_path / "a", [(ids, x)], factory=FACTORY, train_sample=x, shard_size=N)
    b = build_large_index(tmp_path / "b", chunked(ids, x, 333), factory=FACTORY, train_sample=x, shard_size=777)
    assert len(a["shards"]) == 1 and len(b["shards"]) == 4
    p = LargeSearchParams(nprobe=16, rerank=300)
    ra, rb = LargeIndex(tmp_path / "a").search(q, K, p), LargeIndex(tmp_path / "b").search(q, K, p)
    assert np.array_equal(ra[1], rb[1])
    np.testing.assert_array_equal(ra[0], rb[0])


def test_ondisk_merge_gives_the_shards_result_and_reloads_by_mmap(built, data):
    path, _ = built
    _, _, q = data
    merged = merge_shards_ondisk(path)
    assert merged.exists() and (path / "merged.ivfdata").stat().st_size > 0
    assert merge_shards_ondisk(path) == merged  # idempotent
    p = LargeSearchParams(nprobe=8, rerank=100)
    s1, i1 = LargeIndex(path, layout="shards").search(q, K, p)
    # the folder moves: the on-disk lists are found beside the index file
    moved = path.parent / "moved"
    shutil.copytree(path, moved)
    s2, i2 = LargeIndex(moved, layout="ondisk").search(q, K, p)
    assert np.array_equal(i1, i2)
    np.testing.assert_array_equal(s1, s2)


def test_ties_are_broken_by_ascending_id(tmp_path):
    rng = np.random.default_rng(5)
    base = clustered(400, 2)
    dup = np.repeat(base[:1], 30, axis=0)  # 30 identical vectors: all tie with each other
    x = np.concatenate([base[1:], dup])
    ids = np.concatenate([np.arange(1000, 1399), rng.permutation(np.arange(30)) * 3 + 5]).astype(np.int64)
    build_large_index(tmp_path / "t", chunked(ids, x, 100), factory="IVF4,PQ8np", train_sample=x, shard_size=150)
    index = LargeIndex(tmp_path / "t")
    scores, found = index.search(base[:1], 12, LargeSearchParams(nprobe=4, rerank=400))
    tied = np.sort(ids[-30:])
    assert np.array_equal(found[0], tied[:12])
    assert np.all(scores[0] == scores[0, 0])


def test_killed_build_resumes_after_its_last_finished_shard(tmp_path, data):
    ids, x, q = data
    path = tmp_path / "r"

    def killed_after(rows):
        for n, (i, v) in enumerate(chunked(ids, x, 500)):
            if n * 500 >= rows:
                raise KeyboardInterrupt  # the process dies mid-build
            yield i, v

    with pytest.raises(KeyboardInterrupt):
        build_large_index(path, killed_after(2500), factory=FACTORY, train_sample=x, shard_size=1000)
    manifest = json.loads((path / "manifest.json").read_text())
    assert [s["n"] for s in manifest["shards"]] == [1000, 1000] and not manifest["complete"]
    assert sorted(p.name for p in (path / "shards").iterdir()) == [".tmp-shard-00002", "shard-00000", "shard-00001"]
    trained = (path / "trained.index").stat().st_mtime_ns
    seen = []

    class Source:  # restarts at the row asked for and records it
        def chunks(self, start=0):
            seen.append(start)
            for s in range(start, N, 500):
                yield ids[s : s + 500], x[s : s + 500]

    done = build_large_index(path, Source(), factory=FACTORY, shard_size=1000)
    assert seen == [2000] and done["complete"] and (path / "trained.index").stat().st_mtime_ns == trained
    assert not any(p.name.startswith(".tmp") for p in (path / "shards").iterdir())
    full = build_large_index(tmp_path / "full", chunked(ids, x), factory=FACTORY, train_sample=x, shard_size=1000)
    assert full["n"] == done["n"] == N
    p = LargeSearchParams(nprobe=16, rerank=200)
    assert np.array_equal(LargeIndex(path).search(q, K, p)[1], LargeIndex(tmp_path / "full").search(q, K, p)[1])


def test_vector_store_source_feeds_the_build_newest_copy_winning(tmp_path, data):
    ids, x, _ = data
    store = VectorStore(tmp_path / "vectors", "m")
    store.append(ids[:1500], x[:1500])
    store.append(ids[1500:], x[1500:])
    stale = -x[:10]  # an older shard's copy of 10 ids would be replaced by a newer one...
    store.append(ids[:10], stale)  # ...here the newest copy is this one
    src = VectorStoreSource(store)
    assert len(src) == N
    build_large_index(tmp_path / "s", src, factory=FACTORY, train_sample=src.sample(2000), shard_size=1000)
    index = LargeIndex(tmp_path / "s")
    np.testing.assert_allclose(index.vectors(ids[:3]), stale[:3], atol=2e-3)
    assert index.ntotal == N


def test_bad_input_gives_clear_errors(tmp_path, data):
    ids, x, _ = data
    with pytest.raises(ValueError, match="dimension 16 but the index has dimension 32"):
        build_large_index(tmp_path / "d", [(ids[:500], x[:500]), (ids[500:600], x[500:600, :16])], factory=FACTORY,
                          train_sample=x)  # fmt: skip
    with pytest.raises(ValueError, match="repeated ids in the chunk"):
        build_large_index(tmp_path / "u", [(np.r_[ids[:10], ids[:1]], x[:11])], factory=FACTORY, train_sample=x)
    with pytest.raises(ValueError, match="already indexed in an earlier shard"):
        build_large_index(tmp_path / "e", [(ids[:600], x[:600]), (ids[:5], x[:5])], factory=FACTORY,
                          train_sample=x, shard_size=500)  # fmt: skip
    with pytest.raises(ValueError, match="already indexed in this shard"):
        build_large_index(tmp_path / "s", [(ids[:100], x[:100]), (ids[:5], x[:5])], factory=FACTORY, train_sample=x)
    with pytest.raises(ValueError, match="must be >= 0"):
        build_large_index(tmp_path / "n", [(-ids[:10], x[:10])], factory=FACTORY, train_sample=x)
    bad = x[:10].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        build_large_index(tmp_path / "f", [(ids[:10], bad)], factory=FACTORY, train_sample=x)
    with pytest.raises(ValueError, match="invalid FAISS factory"):
        train_large_index(x, factory="IVF16,Nonsense")
    build_large_index(tmp_path / "ok", [(ids, x)], factory=FACTORY, train_sample=x)
    with pytest.raises(ValueError, match="holds a build of"):
        build_large_index(tmp_path / "ok", [(ids, x)], factory="IVF8,PQ8np", train_sample=x)
    with pytest.raises(ValueError, match="queries have dimension 8"):
        LargeIndex(tmp_path / "ok").search(x[:2, :8], K)
    with pytest.raises(FileNotFoundError, match="merge_shards_ondisk"):
        LargeIndex(tmp_path / "ok", layout="ondisk")
    with pytest.raises(FileNotFoundError, match="no large index"):
        LargeIndex(tmp_path / "nothing")
    with pytest.raises(ValueError, match="not finished"):
        LargeIndex(tmp_path / "e")


def test_large_factory_scales_lists_with_n():
    assert large_factory(10_000_000, 512) == "IVF2048,PQ64np"
    assert large_factory(100_000, 512) == "IVF256,PQ64np"
    with pytest.raises(ValueError):
        large_factory(0, 512)


@pytest.mark.gpu
@pytest.mark.skipif(not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0, reason="needs CUDA + faiss-gpu")
def test_gpu_build_and_search_match_cpu(tmp_path, data):
    ids, x, q = data
    build_large_index(tmp_path / "c", chunked(ids, x), factory=FACTORY, train_sample=x, use_gpu=False)
    build_large_index(tmp_path / "g", chunked(ids, x), factory=FACTORY, train_sample=x, use_gpu=True)
    p = LargeSearchParams(nprobe=16, rerank=N)
    _, cpu = LargeIndex(tmp_path / "c", use_gpu=False).search(q, K, p)
    _, gpu = LargeIndex(tmp_path / "g", use_gpu=True).search(q, K, p)
    assert recall(gpu, cpu) >= 0.99  # exact re-ranking of every candidate: equal up to GPU k-means differences

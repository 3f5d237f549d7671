"""Searches in parallel threads (``adsearch serve`` runs them without a lock) give exactly the serial results, on
both query encoders: the ONNX export run with one thread per call (the service's setting) and the torch text tower
(no export), whose tokenizer is shared by the retriever and the text channels and must be called under one lock.

The workspace is the session's tiny one (tests/search_workspace.py), copied, with its text channels indexed (so
every search is a fused one: visual + BM25 + dense per text channel, snippets) and, for the ONNX half, the
retriever's text side exported."""

from __future__ import annotations

import shutil
import threading
from typing import Any

import pytest

from adsearch.workspace import Workspace
from tests.search_workspace import MODEL, session_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from adsearch.index import update_text_indexes

    base = session_workspace(tmp_path_factory)
    out = Workspace.resolve(tmp_path_factory.mktemp("parallel") / "ws")
    shutil.copytree(base.root, out.root, symlinks=True)
    update_text_indexes(out, progress=False)
    return out


def _queries(ws: Workspace) -> list[str]:
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query("SELECT DISTINCT text FROM texts WHERE kind IN ('reference', 'general') ORDER BY text")
    return [r["text"] for r in rows][:24]


def _summary(hits: list[Any]) -> list[tuple]:
    return [(h.clip_id, h.score, h.channels, h.snippet) for h in hits]


def _in_parallel(search, queries: list[str], n_threads: int = 6) -> list[list[tuple]]:
    out: list[Any] = [None] * len(queries)
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def worker(w: int) -> None:
        try:
            start.wait()
            for i in range(w, len(queries), n_threads):
                out[i] = _summary(search(queries[i]))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [], errors
    return out


def test_parallel_searches_equal_serial_ones_with_the_torch_encoder(ws: Workspace) -> None:
    from adsearch.index import open_searcher

    searcher = open_searcher(ws, model=MODEL, onnx=False)
    assert len(searcher.channels) > 1, "fused searches: the text channels are published"
    queries = _queries(ws)
    serial = [_summary(searcher.search(q, k=10)) for q in queries]
    assert all(len(s) == 10 for s in serial)
    assert _in_parallel(lambda q: searcher.search(q, k=10), queries) == serial


def test_parallel_service_searches_equal_serial_ones_with_the_onnx_encoder(ws: Workspace) -> None:
    from adsearch.index import checkpoint_dir
    from adsearch.service import SearchService
    from retrieval.onnx_text import export_text_onnx

    export_text_onnx(checkpoint_dir(ws, MODEL))
    service = SearchService(ws, model=MODEL)
    try:
        searcher = service.searcher()
        assert searcher._encode.__self__.__class__.__name__ == "TextOnnx", "the service encodes with the export"
        queries = _queries(ws)
        serial = [_summary(service.search(q, k=10).hits) for q in queries]
        assert all(len(s) == 10 for s in serial)
        assert _in_parallel(lambda q: service.search(q, k=10).hits, queries) == serial
    finally:
        service.close()


def test_a_search_sets_its_request_thread_to_one_faiss_thread(ws: Workspace) -> None:
    """OpenMP's thread count is per thread: the service sets it in each request thread, not only where it opened
    the searcher (a new thread starts from one OpenMP thread per core, which fight the parallel searches)."""
    import faiss

    from adsearch.service import SearchService

    service = SearchService(ws, model=MODEL)
    seen: list[int] = []
    try:
        query = _queries(ws)[0]
        service.search(query, k=5)  # opened here, in the test's thread
        for _ in range(2):
            t = threading.Thread(target=lambda: (service.search(query, k=5), seen.append(faiss.omp_get_max_threads())))
            t.start()
            t.join()
    finally:
        service.close()
    assert seen == [1, 1]


def test_the_fast_hit_json_equals_the_dataclass_one(ws: Workspace) -> None:
    """``POST /search`` writes hits with ``_fast_hit`` + orjson: the same JSON as ``asdict`` + ``_json_safe``, on
    fused hits with channels, channel scores and snippets."""
    import json

    import orjson

    from adsearch.api import _fast_hit, _hit_json
    from adsearch.service import SearchService

    service = SearchService(ws, model=MODEL)
    try:
        hits = [h for q in _queries(ws)[:6] for h in service.search(q, k=10).hits]
    finally:
        service.close()
    assert any(h.snippet is not None for h in hits) and any(len(h.channels) > 1 for h in hits)
    for h in hits:
        fast = orjson.loads(orjson.dumps(_fast_hit(h, "http://x")))
        assert fast == json.loads(json.dumps(_hit_json(h, "http://x"))), h.clip_id


def test_warm_runs_one_search_through_every_channel_before_the_first_request(ws: Workspace) -> None:
    from adsearch.index import open_searcher
    from adsearch.service import SearchService

    searcher = open_searcher(ws, model=MODEL, onnx_threads=1)
    real, calls = searcher.search, []

    def recording(query: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((query, kwargs.get("channels")))
        return real(query, *args, **kwargs)

    searcher.search = recording
    service = SearchService(ws, model=MODEL, searcher_factory=lambda: searcher)
    assert service.warm() is None and service.warm() is None
    assert len(calls) == 1 and calls[0][1] is None  # once, every channel (the default)
    assert len(searcher.channels) > 1  # the workspace has text channels: the warm-up search was a fused one
    service.search("a product", k=3)
    assert len(calls) == 2
    service.close()

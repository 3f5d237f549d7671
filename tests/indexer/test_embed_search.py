"""Embed -> index versions -> filtered search on a tiny real workspace (h264 videos, DuckDB, FAISS, a tiny model)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adsearch import index as ws_index
from adsearch.workspace import Workspace
from indexer.catalog import open_catalog
from indexer.embed import embed_clips
from indexer.search import MAX_QUERY_CHARS, Filters, QueryError, Searcher
from indexer.vectors import VectorStore
from indexer.versions import ModelMismatchError, active_version
from retrieval import ClipItem, create_model, encode_clips, load_checkpoint, save_checkpoint
from tests.retrieval.retrieval_helpers import open_clip_text_config

from .index_helpers import LABELS, ingest_catalog, tiny_workspace, write_catalog

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The tiny workspace with every clip embedded (not indexed yet)."""
    ws = tiny_workspace(tmp_path_factory.mktemp("embed-ws"))
    summary = ws_index.embed_catalog(ws, progress=False)
    assert summary.done == 12 and summary.failed == 0
    return ws


@pytest.fixture
def ws(embedded: Workspace, tmp_path: Path) -> Workspace:
    """A private copy of the embedded workspace (tests below add, remove and rebuild)."""
    shutil.copytree(embedded.root, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


def _model_id(ws: Workspace) -> str:
    return ws_index._model_id(ws, "retriever-tiny")


def _searcher(ws: Workspace) -> Searcher:
    net = load_checkpoint(ws.models_dir / "retriever-tiny")
    from retrieval import encode_queries

    return Searcher(
        ws.catalog_path,
        ws.indexes_dir,
        model_id=_model_id(ws),
        encode_text=lambda texts: encode_queries(net, texts),
        workspace_root=ws.root,
        check_interval_s=0.0,
    )


def _clip_labels(ws: Workspace) -> dict[int, dict]:
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        return {r["clip_id"]: r for r in cat.clips_with_texts(include_retired=True)}


def test_embed_is_resumable_and_isolates_a_broken_clip(tmp_path: Path, embedded: Workspace) -> None:
    net = load_checkpoint(embedded.models_dir / "retriever-tiny")
    rows = list(_clip_labels(embedded).values())
    items = [ClipItem(r["clip_id"], r["path"], r["start_s"], r["end_s"]) for r in rows]
    broken = ClipItem(1, str(tmp_path / "missing.mp4"), 0.0, 1.0)
    store = VectorStore(tmp_path / "vectors", "m")
    first = embed_clips(net, items[:5], store, batch_size=2)
    assert first.done == 5 and len(store.shards()) == 3  # one shard per batch
    second = embed_clips(net, [*items, broken], store, batch_size=4)
    assert second.skipped == 5 and second.done == 7 and second.failed == 1
    assert second.failures[0][0] == 1 and "missing.mp4" in second.failures[0][1]
    ids, vectors = store.load()
    assert ids.tolist() == sorted(i.clip_id for i in items)  # each clip once, the broken one absent
    ref_ids, ref_vectors = encode_clips(net, items)  # one uninterrupted pass through the retrieval API
    order = np.argsort(ref_ids)
    np.testing.assert_allclose(vectors, ref_vectors[order], atol=1e-5)


def test_embed_records_failures_in_runs(embedded: Workspace) -> None:
    with open_catalog(embedded.catalog_path, read_only=True) as cat:
        runs = cat.query("SELECT command, summary FROM runs WHERE command = 'embed'")
    assert len(runs) == 1 and '"done": 12' in runs[0]["summary"] and '"failures": []' in runs[0]["summary"]


def test_filters_return_only_matching_clips_and_miss_no_exact_top_hit(ws: Workspace) -> None:
    result = ws_index.build(ws, factory="IVF2,Flat", progress=False)  # approximate type: the filter must reach FAISS
    assert result.mode == "build" and result.n == 12 and result.factory == "IVF2,Flat"
    searcher = _searcher(ws)
    labels = _clip_labels(ws)
    ids, vectors = VectorStore(ws.vectors_dir, _model_id(ws)).load()
    queries = np.random.default_rng(0).standard_normal((5, vectors.shape[1])).astype(np.float32)
    cases = [
        Filters(industry="games"),
        Filters(industry=["games", "finance"], split="test"),
        Filters(product="shoe"),
        Filters(game="rpg", split="train"),
        Filters(catalog="main", split=["train"]),
    ]
    for f in cases:
        wanted = {
            cid
            for cid, r in labels.items()
            if all(r["catalog_id" if name == "catalog" else name] in values for name, values in f.active().items())
        }
        assert wanted, f
        hits = searcher.search_vectors(queries, k=3, filters=f)
        mask = np.isin(ids, sorted(wanted))
        sims = queries @ vectors[mask].T
        for q, q_hits in enumerate(hits):
            assert {h.clip_id for h in q_hits} <= wanted
            exact = ids[mask][np.argsort(-sims[q], kind="stable")[: min(3, len(wanted))]]
            assert [h.clip_id for h in q_hits] == exact.tolist()
    assert searcher.search_vectors(queries[:1], k=3, filters=Filters(industry="no-such-industry")) == [[]]


def test_hits_carry_texts_labels_and_thumbnails(ws: Workspace) -> None:
    ws_index.build(ws, progress=False)
    searcher = _searcher(ws)
    hit = searcher.search("clip a of video 2", k=12)[0]
    assert hit.rank == 1 and hit.catalog_id == "main" and Path(hit.path).is_file() and hit.uri.startswith("videos/")
    assert hit.thumb is not None and Path(hit.thumb).is_absolute() and Path(hit.thumb).is_file()
    assert set(hit.texts) == {"reference", "general", "asr"} and hit.end_s > hit.start_s
    assert set(hit.labels) == {"industry", "sub_industry", "product", "game", "split"}
    with open_catalog(ws.catalog_path) as cat:
        cat.upsert_texts([(hit.clip_id, "general", "a generated caption", "blip2-tiny-abc")])
    again = next(h for h in searcher.search("clip a of video 2", k=12) if h.clip_id == hit.clip_id)
    assert again.texts["general"] == "a generated caption"  # the generated caption wins over the manifest's
    again.texts["general"] = "changed by the caller"  # a hit's texts are its own: searches keep the catalog's
    third = next(h for h in searcher.search("clip a of video 2", k=12) if h.clip_id == hit.clip_id)
    assert third.texts["general"] == "a generated caption"
    values = searcher.filter_values()
    assert values["industry"] == ["e-commerce", "finance", "games"] and values["catalog"] == ["main"]
    assert values["split"] == ["test", "train"]


def test_rows_read_in_bulk_after_a_catalog_change_equal_rows_read_per_hit(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws_index.build(ws, progress=False)
    bulk = _searcher(ws)  # the catalog fits its row cache: the first search reads every clip's row at once
    query, k = "clip a of video 2", 12  # every clip
    first = bulk.search(query, k=k)
    assert len(first) == k and bulk._rows.generation >= 0
    with open_catalog(ws.catalog_path) as cat:  # a change: the next search reads the rows of the new copy
        cat.upsert_texts([(first[3].clip_id, "asr", "a new transcript", "whisper-test")])
    bulk_hits = bulk.search(query, k=k)
    one_by_one = _searcher(ws)
    monkeypatch.setattr(one_by_one._rows, "_size", 0)  # too small for a bulk read: rows are read per hit
    assert one_by_one.search(query, k=k) == bulk_hits
    assert next(h for h in bulk_hits if h.clip_id == first[3].clip_id).texts["asr"] == "a new transcript"


def test_bad_queries_raise_query_error(ws: Workspace) -> None:
    ws_index.build(ws, progress=False)
    searcher = _searcher(ws)
    for bad in ("", "   \n\t"):
        with pytest.raises(QueryError, match="empty"):
            searcher.search(bad)
    with pytest.raises(QueryError, match=f"limit is {MAX_QUERY_CHARS}"):
        searcher.search("x" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(QueryError, match="query 1"):
        searcher.search_batch(["fine", " "])
    with pytest.raises(QueryError, match="unknown filter field"):
        Filters.from_dict({"colour": "red"})
    assert len(searcher.search_batch(["a", "b"], k=2)) == 2


def test_incremental_add_equals_rebuild_and_remove_hides_a_catalog(ws: Workspace, tmp_path: Path) -> None:
    first = ws_index.build(ws, progress=False)
    searcher = _searcher(ws)
    assert searcher.version == first.version
    ingest_catalog(ws, write_catalog(tmp_path / "src-second", seed=1), "second")
    assert ws_index.status(ws).not_indexed == 12
    summary, added = ws_index.add_catalogs(ws, progress=False)
    assert summary.done == 12 and summary.skipped == 12
    assert added.mode == "add" and added.added == 12 and added.n == 24 and not added.reason
    assert searcher.version == added.version  # picked up without a restart
    queries = np.random.default_rng(1).standard_normal((6, 32)).astype(np.float32)
    after_add = [[(h.clip_id, h.score) for h in q] for q in searcher.search_vectors(queries, k=5)]
    assert {h.catalog_id for q in searcher.search_vectors(queries, k=24) for h in q} == {"main", "second"}
    rebuilt = ws_index.build(ws, progress=False)
    assert rebuilt.n == 24 and searcher.version == rebuilt.version
    after_rebuild = [[(h.clip_id, h.score) for h in q] for q in searcher.search_vectors(queries, k=5)]
    assert after_add == after_rebuild

    assert ws_index.remove_catalog(ws, "second") == 6
    assert {h.catalog_id for q in searcher.search_vectors(queries, k=24) for h in q} == {"main"}
    assert searcher.search_vectors(queries, k=5, filters=Filters(catalog="second")) == [[] for _ in range(6)]
    assert "second" not in searcher.filter_values()["catalog"]
    with open_catalog(ws.catalog_path, read_only=True) as cat:  # rows stay
        assert cat.query("SELECT count(*) AS n FROM videos WHERE catalog_id = 'second'")[0]["n"] == 6
    _, pruned = ws_index.add_catalogs(ws, progress=False)  # the next add takes the retired clips out
    assert pruned.mode == "add" and pruned.removed == 12 and pruned.n == 12
    with pytest.raises(ValueError, match="unknown catalog 'nope'"):
        ws_index.remove_catalog(ws, "nope")


def test_model_change_rebuilds_and_a_mismatched_index_raises(ws: Workspace) -> None:
    old = ws_index.build(ws, progress=False)
    old_id = _model_id(ws)
    save_checkpoint(create_model(open_clip_text_config(embed_dim=16)), ws.models_dir / "retriever-tiny")  # retrained
    new_id = _model_id(ws)
    assert new_id != old_id
    with pytest.raises(FileNotFoundError, match="run `adsearch embed`"):
        ws_index.open_searcher(ws)
    summary, result = ws_index.add_catalogs(ws, progress=False)
    assert summary.done == 12 and result.mode == "build" and "new or retrained" in result.reason
    assert active_version(ws.indexes_dir, old_id) == old.version  # the old model's index is untouched
    # an index directory holding another model's vectors is refused at load
    shutil.copytree(ws.indexes_dir / old_id, ws.indexes_dir / "tiny-000000000000")
    with pytest.raises(ModelMismatchError, match=old_id):
        Searcher(ws.catalog_path, ws.indexes_dir, model_id="tiny-000000000000", encode_text=lambda t: None)


def test_status_and_prune(ws: Workspace) -> None:
    st = ws_index.status(ws)
    assert st.published is None and st.embedded == 12 and st.not_indexed == 12
    first = ws_index.build(ws, progress=False)
    second = ws_index.build(ws, progress=False)
    st = ws_index.status(ws)
    assert st.published == second.version and [v.name for v in st.versions] == [first.version, second.version]
    assert st.not_embedded == 0 and st.not_indexed == 0
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query("SELECT version, published, n, recall_at_10 FROM index_versions ORDER BY version")
    assert [(r["version"], r["published"], r["n"]) for r in rows] == [
        (first.version, False, 12),
        (second.version, True, 12),
    ]
    assert rows[1]["recall_at_10"] == 1.0
    assert ws_index.prune_index(ws, keep=0) == [first.version]
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        assert cat.query("SELECT version FROM index_versions") == [{"version": second.version}]


def test_labels_fixture_covers_the_filters() -> None:
    # the filter test above relies on several values per field and on clips of both splits
    assert len({label[0] for label in LABELS}) == 3 and {label[3] for label in LABELS} == {"train", "test"}


def test_search_answers_while_another_process_writes_the_catalog(ws: Workspace) -> None:
    ws_index.build(ws, progress=False)
    searcher = _searcher(ws)
    before = [h.clip_id for h in searcher.search("clip a of video 3", k=5)]
    writer = subprocess.Popen(  # holds catalog.duckdb read-write (as ingest and captioning do for their whole run)
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            "con.execute(\"UPDATE catalogs SET retired = TRUE WHERE catalog_id = 'main'\"); print('held', flush=True); "
            "sys.stdin.readline()",
            str(ws.catalog_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match="being written"):  # a new searcher cannot start now...
            _searcher(ws)
        # ...but a running one answers from its copy (what the writer wrote is unreadable while it holds the file)
        assert [h.clip_id for h in searcher.search("clip a of video 3", k=5)] == before
    finally:
        writer.communicate("\n", timeout=30)
    assert searcher.search("clip a of video 3", k=5) == []  # once the writer is done, its retire is seen


def test_tuning_queries_are_embedded_only_for_approximate_indexes(ws: Workspace) -> None:
    from indexer.build import build_index_version

    calls: list[int] = []
    store = VectorStore(ws.vectors_dir, _model_id(ws))
    _, vectors = store.load()

    def queries() -> np.ndarray:
        calls.append(1)
        return vectors[:4] + 0.1

    with open_catalog(ws.catalog_path) as cat:
        exact = build_index_version(cat, store, ws.indexes_dir, tuning_queries=queries)
        assert calls == [] and exact.recall_at_10 == 1.0
        approx = build_index_version(cat, store, ws.indexes_dir, factory="IVF4,Flat", tuning_queries=queries)
    assert calls == [1] and 0.95 <= approx.recall_at_10 <= 1.0
    result = ws_index.build(ws, factory="IVF4,Flat", progress=False)  # the CLI's glue: catalog texts as queries
    assert result.factory == "IVF4,Flat" and result.recall_at_10 >= 0.95

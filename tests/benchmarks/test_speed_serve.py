"""The load test's queries (``benchmarks.speed_serve.distinct_queries``): one distinct query per search, so the
figures measure real searches and no cache of repeated queries."""

from __future__ import annotations

from benchmarks.speed_serve import distinct_queries

TEXTS = [
    "a woman in a yellow dress dances on a beach at sunset",
    "a man  drives a red car through the city at night",  # two spaces: the same query as its normalised form
    "a man drives a red car through the city at night",
    "kids play a mobile game on a sofa",
    "",
]


def test_whole_texts_come_first_each_once() -> None:
    got = distinct_queries(TEXTS, 3, seed=0)
    assert sorted(got) == sorted({" ".join(t.split()) for t in TEXTS if t.strip()})


def test_more_searches_than_texts_get_distinct_word_prefixes() -> None:
    got = distinct_queries(TEXTS, 50, seed=0)
    assert len(got) == len(set(got)), "no query repeats"
    whole = {" ".join(t.split()) for t in TEXTS if t.strip()}
    assert set(got[:3]) == whole
    for q in got[3:]:
        assert q not in whole and len(q.split()) >= 3
        assert any(w.startswith(q + " ") for w in whole), q
    assert "a woman in a yellow dress" in got  # half of the first text's words
    assert distinct_queries(TEXTS, 50, seed=0) == got, "seeded"
    assert distinct_queries(TEXTS, 50, seed=1) != got


def test_the_user_query_set_is_the_generated_user_style_queries(tmp_path) -> None:
    from adsearch.workspace import Workspace
    from benchmarks.speed_serve import _queries
    from benchmarks.user_queries import load_query_sets
    from corpus.synth import generate_catalog
    from indexer.catalog import open_catalog
    from indexer.ingest import IngestOptions, ingest

    ws = Workspace(tmp_path / "ws")
    synth = generate_catalog(tmp_path / "cat", n_clips=40, seed=3, workers=1, progress=False)
    with open_catalog(ws.catalog_path) as cat:
        opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=False, workers=1)
        ingest(synth.manifest_path, cat, opts=opts, progress=False)
    texts = {" ".join(t.split()) for qs in load_query_sets(ws) for t in qs.texts}
    got = _queries(ws, len(texts), seed=0, query_set="user")
    assert texts and set(got) == texts
    catalog = _queries(ws, 20, seed=0, query_set="catalog")
    assert catalog and not set(catalog) & texts

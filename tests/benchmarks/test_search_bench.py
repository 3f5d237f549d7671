"""``python -m benchmarks.search`` on the tiny real workspace: the query sets' ground truth against the generator's
own files by brute force, the per-channel and fused figures against an independent loop over ``Searcher.search``,
the tie rules, and the files it writes.

The workspace is the session's tiny searchable one (``tests.search_workspace``: 40 synthetic clips, a 1-epoch
retriever, stand-in captions) copied, with stand-in OCR texts written from ``ocr_truth.jsonl`` (the OCR stage is
tested on its own) and the text channels indexed with the real MiniLM and tantivy.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from adsearch.workspace import Workspace
from benchmarks.search import (
    CONFIGS,
    SETS,
    load_bench_queries,
    main,
    pessimistic,
    run_or_reuse,
    run_search,
    score_query,
    tie_safe_rank,
)
from indexer.fusion import Ranking, fuse
from tests.search_workspace import N_CLIPS, session_workspace

STAND_IN_OCR = "stand-in-ocr"
_WORD = re.compile(r"[a-z0-9%$'-]+")


def _catalog_dir(ws: Workspace) -> Path:
    return ws.synth_dir(N_CLIPS, 0)


def _clip_ids(ws: Workspace) -> dict[tuple[str, int], int]:
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query("SELECT v.uri, c.shot_index, c.clip_id FROM clips c JOIN videos v USING (video_id)")
    return {(r["uri"], r["shot_index"]): r["clip_id"] for r in rows}


def _ocr_truth(ws: Workspace) -> list[dict]:
    path = _catalog_dir(ws) / "ocr_truth.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def bench_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of the session workspace with stand-in OCR texts and the text channels indexed."""
    from adsearch.index import update_text_indexes
    from indexer.catalog import open_catalog
    from indexer.text_index import TextEncoder

    src = session_workspace(tmp_path_factory)
    dest = tmp_path_factory.mktemp("search-bench") / "ws"
    shutil.copytree(src.root, dest, symlinks=True)
    ws = Workspace.resolve(dest)
    clip_of = _clip_ids(ws)
    rows = [
        (clip_of[r["uri"], r["clip"]], "ocr", "\n".join(t["text"] for t in r["texts"]), STAND_IN_OCR)
        for r in _ocr_truth(ws)
        if r["texts"]
    ]
    with open_catalog(ws.catalog_path) as cat:
        cat.upsert_texts(rows)
    results = update_text_indexes(ws, encoder=TextEncoder(), progress=False)
    assert {r.channel: r.n > 0 for r in results} == {"description": True, "speech": True, "text": True}
    return ws


@pytest.fixture(scope="module")
def one_thread():
    """Query texts encoded on one torch thread (single short texts encode ~10x faster so on a loaded 2-core box)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def searcher(bench_ws: Workspace, one_thread):
    """A Searcher like ``open_searcher``'s whose query encoders remember each text's vector (the benchmark and the
    loop below search the same texts many times)."""
    from indexer.search import Searcher
    from indexer.text_index import TextChannels, TextEncoder
    from retrieval import encode_queries, load_checkpoint, read_checkpoint_meta

    path = bench_ws.models_dir / "retriever-tiny"
    net = load_checkpoint(path)
    seen: dict[tuple[str, ...], np.ndarray] = {}

    def encode_text(texts: list[str]) -> np.ndarray:
        if tuple(texts) not in seen:
            seen[tuple(texts)] = encode_queries(net, texts)
        return seen[tuple(texts)]

    class Remembering(TextEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.seen: dict[tuple[str, ...], np.ndarray] = {}

        def encode(self, texts):
            if tuple(texts) not in self.seen:
                self.seen[tuple(texts)] = super().encode(texts)
            return self.seen[tuple(texts)]

    return Searcher(
        bench_ws.catalog_path,
        bench_ws.indexes_dir,
        model_id=str(read_checkpoint_meta(path)["model_id"]),
        encode_text=encode_text,
        workspace_root=bench_ws.root,
        text_channels=TextChannels(bench_ws.indexes_dir, Remembering()),
    )


@pytest.fixture(scope="module")
def result(bench_ws: Workspace, searcher) -> dict:
    return run_search(bench_ws, searcher=searcher, progress=False)


# --- the query sets' ground truth ----------------------------------------------------------------------------------
def _search_queries(ws: Workspace) -> list[dict]:
    path = _catalog_dir(ws) / "search_queries.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_brand_and_offer_answers_are_every_clip_showing_the_string_per_ocr_truth(bench_ws: Workspace) -> None:
    queries = _search_queries(bench_ws)
    truth = _ocr_truth(bench_ws)
    by_set: dict[str, list[dict]] = {}
    for q in queries:
        by_set.setdefault(q["set"], []).append(q)
    assert set(by_set) == {"brand", "offer", "speech"}
    # brand: one query per brand shown on screen, answered by every clip showing it (overlay or product label)
    shown: dict[str, set[tuple[str, int]]] = {}
    for row in truth:
        for t in row["texts"]:
            if t["role"] in ("brand", "label"):
                shown.setdefault(t["text"], set()).add((row["uri"], row["clip"]))
    assert shown, "the tiny catalog shows brands on screen"
    assert {q["about"]["brand"]: {tuple(m) for m in q["matches"]} for q in by_set["brand"]} == shown
    for q in by_set["brand"]:
        words = q["text"].split()
        assert words[0] == q["about"]["brand"].capitalize() and words[-1] == "ad" and len(words) >= 3
    # offer: one query per price / badge / call to action shown, answered by every clip showing it
    offers: dict[str, set[tuple[str, int]]] = {}
    for row in truth:
        for t in row["texts"]:
            if t["role"] in ("price", "badge", "cta"):
                offers.setdefault(t["text"], set()).add((row["uri"], row["clip"]))
    assert offers
    assert {q["about"]["screen_text"]: {tuple(m) for m in q["matches"]} for q in by_set["offer"]} == offers
    assert len({q["text"] for q in by_set["offer"]}) == len(by_set["offer"])


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _coverage(line: str, transcript: str) -> float:
    """Share of the line's words found in order in the transcript (longest common subsequence)."""
    a, b = _words(line), _words(transcript)
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1] / max(1, len(a))


def test_speech_answers_are_the_clips_of_every_video_whose_voice_over_says_it(bench_ws: Workspace) -> None:
    from corpus.manifest import read_manifest
    from corpus.synth import build_records, plan_catalog, voiceover
    from corpus.synth.plan import seed_of
    from corpus.synth.search_queries import SPEECH_FACTS, voiceover_lines

    plan = plan_catalog(N_CLIPS, seed=0)
    records = build_records(plan, 144, 256)
    manifest = {r.uri: r for r in read_manifest(_catalog_dir(bench_ws) / "manifest.jsonl").records}
    expected: dict[str, set[tuple[str, int]]] = {}
    for v, rec in zip(plan.videos, records, strict=True):
        transcript = manifest[rec.uri].asr
        assert transcript == voiceover(v, random.Random(seed_of("asr", v.seed)))
        lines = voiceover_lines(v)  # raises when the lines do not reproduce the transcript
        for template, slots in lines:
            said = template.format(**slots)
            assert _coverage(said, transcript) >= 0.5, (said, transcript)  # the transcript says it, with ASR noise
            for fact in SPEECH_FACTS[template]:
                expected.setdefault(fact.format(**slots), set()).update((rec.uri, k) for k in range(len(v.shots)))
    speech = [q for q in _search_queries(bench_ws) if q["set"] == "speech"]
    assert {q["text"]: {tuple(m) for m in q["matches"]} for q in speech} == expected
    # other words: no query shares a run of four words with any voice-over of the catalog
    grams = set()
    for rec in records:
        w = _words(rec.asr or "")
        grams |= {tuple(w[i : i + 4]) for i in range(len(w) - 3)}
    for q in speech:
        w = _words(q["text"])
        assert not {tuple(w[i : i + 4]) for i in range(len(w) - 3)} & grams, q["text"]


def test_query_files_map_onto_clip_ids(bench_ws: Workspace) -> None:
    from corpus.synth import read_user_queries

    (cq,), notes = load_bench_queries(bench_ws)
    assert notes == [] and cq.n_unmapped == 0
    clip_of = _clip_ids(bench_ws)
    expected = {
        (q["set"], q["text"]): sorted(clip_of[tuple(m)] for m in q["matches"]) for q in _search_queries(bench_ws)
    }
    for q in read_user_queries(_catalog_dir(bench_ws) / "user_queries.jsonl"):
        expected["user", q.text] = sorted(clip_of[m] for m in q.matches)
    got = {(q.set, q.text): q.answers for q in cq.queries}
    assert got == expected


# --- figures --------------------------------------------------------------------------------------------------------
def _chosen(bench_ws: Workspace, set_name: str, split: str) -> list[tuple[str, set[int]]]:
    """(query, answers) of a set scored with ``split``, selected here from the files (not the benchmark's code)."""
    from corpus.synth import read_user_queries
    from indexer.catalog import open_catalog

    clip_of = _clip_ids(bench_ws)
    with open_catalog(bench_ws.catalog_path, read_only=True) as cat:
        split_of = {r["clip_id"]: r["split"] for r in cat.clips_with_texts()}
    out = []
    if set_name == "user":
        for q in read_user_queries(_catalog_dir(bench_ws) / "user_queries.jsonl"):
            if split_of[clip_of[q.source]] == split:
                out.append((q.text, {clip_of[m] for m in q.matches}))
    else:
        for q in _search_queries(bench_ws):
            answers = {clip_of[tuple(m)] for m in q["matches"]}
            if q["set"] == set_name and any(split_of[c] == split for c in answers):
                out.append((q["text"], answers))
    return out


def _served_rank(hits, answers: set[int]) -> float:
    return next((i + 1 for i, h in enumerate(hits) if h.clip_id in answers), math.inf)


def test_figures_agree_with_an_independent_loop_over_searcher_search(bench_ws: Workspace, searcher, result) -> None:
    from indexer.catalog import open_catalog
    from indexer.search import Filters

    assert result["channels"] == ["visual", "description", "speech", "text"] and result["notes"] == []
    with open_catalog(bench_ws.catalog_path, read_only=True) as cat:
        split_of = {r["clip_id"]: r["split"] for r in cat.clips_with_texts()}
        (catalog_id,) = [r["catalog_id"] for r in cat.query("SELECT catalog_id FROM catalogs")]
    rows = {(r["set"], r["gallery"]): r for r in result["results"]}
    assert set(rows) == {(s, g) for s in SETS for g in ("test", "all")}
    for (set_name, gallery), row in rows.items():
        chosen = _chosen(bench_ws, set_name, "test")
        gallery_clips = {c for c, s in split_of.items() if gallery == "all" or s == gallery}
        assert row["n_queries"] == len(chosen) > 0 and row["n_gallery"] == len(gallery_clips)
        filters = Filters(catalog=catalog_id, split=None if gallery == "all" else gallery)
        answers = [a & gallery_clips for _, a in chosen]
        assert row["mean_answers"] == pytest.approx(np.mean([len(a) for a in answers]))
        searches = {f"channel:{c}": {"channels": [c]} for c in result["channels"]}
        searches |= {f"fused:{m}": {"fusion": m} for m in ("learned", "rrf", "score", "zscore")}
        for name, kwargs in searches.items():
            served, safe_visual = [], []
            for (text, _), good in zip(chosen, answers, strict=True):
                hits = searcher.search(text, k=40, filters=filters, **kwargs)
                served.append(_served_rank(hits[:10], good))
                if name == "channel:visual":  # tie-safe from the hits' cosine scores
                    best = max((h.score for h in hits if h.clip_id in good), default=None)
                    n_ahead = sum(1 for h in hits if h.clip_id not in good and best is not None and h.score >= best)
                    safe_visual.append(math.inf if best is None else 1 + n_ahead)
            for k in (1, 5, 10):
                as_served = row["as_served"][name][f"R@{k}"]
                assert as_served == pytest.approx(100 * np.mean(np.array(served) <= k)), (set_name, gallery, name, k)
                assert row["figures"][name][f"R@{k}"] <= as_served + 1e-9, "ties never help"
                if safe_visual:
                    expected = 100 * np.mean(np.array(safe_visual) <= k)
                    assert row["figures"]["channel:visual"][f"R@{k}"] == pytest.approx(expected)
        assert set(row["figures"]) >= {f"fused:{c}" for c in CONFIGS} | {"ranker:visual", "ranker:text.lexical"}
    # on-screen text finds brands (stand-in OCR texts here): the text channel and the fusion rank them first
    brand = rows["brand", "all"]["figures"]
    assert brand["channel:text"]["R@1"] == 100.0 and brand["fused:rrf"]["R@10"] == 100.0


def test_ties_never_help_an_answer() -> None:
    # the answer (clip 1) ties clip 2 in both lists; as served, clip ids cut both ties in its favour
    lexical = Ranking.of([1, 2, 3], [5.0, 5.0, 1.0])
    dense = Ranking.of([3, 1, 2], [0.9, 0.5, 0.5])
    as_served = [f.clip_id for f in fuse({"text.lexical": lexical, "text.dense": dense}, method="rrf")]
    assert as_served == [1, 3, 2]  # 1: 1/61 + 1/62, 3: 1/63 + 1/61, 2: 1/62 + 1/63
    assert pessimistic(lexical, {1}).ids.tolist() == [2, 1, 3]
    assert pessimistic(dense, {1}).ids.tolist() == [3, 2, 1]
    configs = {"rrf": {"method": "rrf"}}
    ranks = score_query({"text.lexical": lexical, "text.dense": dense}, {1}, depth=100, configs=configs)
    assert ranks["ranker:text.lexical"] == 2 and ranks["ranker:text.dense"] == 3
    # both ties lost: 1 gets 1/62 + 1/63, below 2 (1/61 + 1/62) and 3 (1/63 + 1/61)
    assert ranks["fused:rrf"] == 3
    # the channel alone, fused as served (zscore): 1 and 2 tie on the lexical list and score 0 on the dense one
    # (both at its last score); the tie counts against the answer, 3 stays below
    assert ranks["channel:text"] == 2
    assert tie_safe_rank([5, 6], [1.0, 1.0], {6}) == 2
    assert tie_safe_rank([5, 6], [1.0, 0.5], {6}) == 2
    assert tie_safe_rank([5, 6], [1.0, 0.5], {7}) == math.inf
    assert tie_safe_rank([5, 6], [1.0, 1.0], {5}, depth=2) == math.inf  # the tie may go on past the cut
    assert tie_safe_rank([5, 6], [1.0, 0.5], {5}, depth=2) == 1


def test_main_writes_json_markdown_and_plot_and_the_demo_reuses_an_unchanged_result(
    bench_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bench"
    assert main(["--workspace", str(bench_ws.root), "--out", str(out), "--no-progress", "--sets", "brand,offer"]) == 0
    saved = json.loads((out / "search.json").read_text())
    assert saved["sets"] == ["brand", "offer"] and {r["set"] for r in saved["results"]} == {"brand", "offer"}
    assert (out / "search_recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "### Gallery: split test" in printed and "### Fused vs the best single channel" in printed
    assert (out / "search.md").read_text().strip() in printed

    ws = Workspace.resolve(shutil.copytree(bench_ws.root, tmp_path / "ws", symlinks=True))
    table, reused = run_or_reuse(ws, progress=False)
    assert not reused and (ws.bench_dir / "search.json").is_file()
    again, reused = run_or_reuse(ws, progress=False)
    assert reused and again.strip() == table.strip()
    import indexer.fusion

    refit = tmp_path / "fusion_learned.json"  # other learned fusion weights (a refit shipped in an upgrade)
    refit.write_text(
        indexer.fusion.LEARNED_WEIGHTS_PATH.read_text(encoding="utf-8").replace(
            '"info": {', '"info": {"refit": 1, ', 1
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(indexer.fusion, "LEARNED_WEIGHTS_PATH", refit)
    _, reused = run_or_reuse(ws, progress=False)
    assert not reused
    _, reused = run_or_reuse(ws, progress=False)
    assert reused
    queries = _catalog_dir(ws) / "search_queries.jsonl"  # the query file changed: computed again
    local = ws.catalogs_dir / "changed"
    local.mkdir()
    lines = queries.read_text(encoding="utf-8").splitlines()
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path) as cat:
        cat.con.execute("UPDATE catalogs SET source = ?", [str(local / "manifest.jsonl")])
    (local / "search_queries.jsonl").write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    shutil.copy(_catalog_dir(ws) / "user_queries.jsonl", local / "user_queries.jsonl")
    _, reused = run_or_reuse(ws, progress=False)
    assert not reused


def test_fusion_tune_scores_equal_fuse_and_never_tune_on_test() -> None:
    """benchmarks.fusion_tune's matrix fusion gives fuse(zscore)'s scores and tie-safe ranks exactly (so the weights
    it prints mean what ZSCORE_WEIGHTS means), and its tuning rows hold no test query."""
    from benchmarks.fusion_tune import RANKERS, _rank, fused_scores, is_tuning_row, query_matrix
    from indexer.fusion import ZSCORE_WEIGHTS

    rng = np.random.default_rng(3)
    weights = np.array([ZSCORE_WEIGHTS.get(r, 1.0) for r in RANKERS])
    for _ in range(20):
        rankings = {}
        for r in RANKERS:
            n = int(rng.integers(0, 30)) if r.endswith(".lexical") else 100
            ids = rng.choice(150, size=n, replace=False)
            scores = np.round(rng.random(n) * 4, 1)  # coarse: many ties
            rankings[r] = pessimistic(Ranking.of(ids, scores), set())
        relevant = {int(c) for c in rng.choice(150, size=3, replace=False)}
        rankings = {r: pessimistic(v, relevant) for r, v in rankings.items()}
        q = query_matrix(rankings, relevant)
        mine = dict(zip(q.ids.tolist(), fused_scores(q, weights).tolist(), strict=True))
        fused = fuse(rankings, method="zscore")
        assert {f.clip_id: f.score for f in fused} == mine
        want = tie_safe_rank([f.clip_id for f in fused], [f.score for f in fused], relevant)
        assert _rank(fused_scores(q, weights), q.rel) == want
    assert not any(is_tuning_row("test", s, g) for s in ("brand", "offer", "speech", "user") for g in ("test", "all"))
    assert is_tuning_row("train", "brand", "train") and is_tuning_row("val", "user", "all")


def test_fusion_tuning_leaves_out_every_query_the_test_split_asks(bench_ws: Workspace) -> None:
    """A brand, offer or speech query answered in train (or val) and in test is one query: tuning on it over the
    whole catalog would fit its test row. benchmarks.fusion_tune tunes on no text that test asks."""
    from benchmarks.fusion_tune import QueryMatrix, Row, held_out_texts, tuning_part

    test_texts = {t for s in ("brand", "offer", "speech", "user") for t, _ in _chosen(bench_ws, s, "test")}
    assert held_out_texts(bench_ws) == test_texts
    shared = {t for s in ("brand", "offer", "speech") for t, _ in _chosen(bench_ws, s, "train")} & test_texts
    assert shared  # the catalog has such queries: the check below is not vacuous
    own = next(t for t, _ in _chosen(bench_ws, "speech", "train") if t not in test_texts)
    m = QueryMatrix(np.arange(2), np.zeros((2, 7)), np.array([True, False]))
    texts = [*sorted(shared), own]
    raw = [{"split": sp, "set": "speech", "gallery": g, "queries": [{"text": t} for t in texts]}
           for sp, g in (("train", "train"), ("train", "all"), ("test", "all"))]  # fmt: skip
    rows = [Row(j["split"], j["set"], j["gallery"], [m] * len(texts)) for j in raw]
    part = tuning_part(raw, rows, held_out_texts(bench_ws))
    assert [(r.split, r.gallery) for _, r in part] == [("train", "train"), ("train", "all")]
    assert all([q["text"] for q in j["queries"]] == [own] and len(r.queries) == 1 for j, r in part)


def test_fusion_fit_weighs_query_sets_alike_however_many_queries_each_has() -> None:
    from benchmarks.fusion_tune import SET_WEIGHT_POWER, set_weights

    sets = ["user"] * 6 + ["brand"] * 2
    np.testing.assert_allclose(set_weights(sets, 0.0), [1 / 8] * 8)  # every query alike
    by_set = set_weights(sets, 1.0)
    np.testing.assert_allclose(by_set, [1 / 12] * 6 + [1 / 4] * 2)  # every set alike
    assert set_weights(sets).sum() == pytest.approx(1.0) and SET_WEIGHT_POWER == 1.0


def test_learned_fusion_fit_routes_each_kind_of_query_to_the_ranker_that_answers_it() -> None:
    """benchmarks.fusion_tune --learn's fit: queries of one kind (vectors near e0) are answered by speech.dense while
    visual favours a wrong clip, the other kind (near e1) by visual. Fixed weights cannot serve both; the learned
    weights rank the answer first for new queries of either kind, and the cross-validated l2 is one of the grid."""
    from benchmarks.fusion_tune import RANKERS, QueryMatrix, Row, _rank, evaluate, fit_learned, fused_scores, learn
    from indexer.fusion import LearnedWeights

    rng = np.random.default_rng(5)
    speech, visual = RANKERS.index("speech.dense"), RANKERS.index("visual")
    dim = 8

    def query(kind: int) -> tuple[np.ndarray, QueryMatrix]:
        vec = np.eye(dim)[kind] + 0.1 * rng.normal(size=dim)
        z = np.abs(rng.normal(scale=0.1, size=(6, len(RANKERS))))
        rel = np.zeros(6, bool)
        rel[0] = True
        if kind == 0:  # the answer heads speech.dense, a wrong clip heads visual (by more, at the fixed weights)
            z[0, speech], z[1, visual] = 3.0, 5.0
        else:  # the answer heads visual, a wrong clip speech.dense
            z[0, visual], z[1, speech] = 5.0, 3.0
        return vec / np.linalg.norm(vec), QueryMatrix(ids=np.arange(6, dtype=np.int64), z=z, rel=rel)

    start = np.ones(len(RANKERS))  # equal fixed weights: visual's 5 outvotes speech's 3
    train = [query(i % 2) for i in range(40)]
    fresh = [query(i % 2) for i in range(20)]
    static_ranks = [_rank(fused_scores(q, start), q.rel) for _, q in fresh]
    assert sum(r == 1 for r in static_ranks) == 10  # fixed weights: only the visual kind is answered first
    a, b = fit_learned(train, l2=1e-3, start=start, epochs=150, confidence=False)
    learned = LearnedWeights(rankers=RANKERS, a=a, b=b, encoder="test")
    w = [np.array([learned.weights(v)[r] for r in RANKERS]) for v, _ in fresh]
    assert all(_rank(fused_scores(q, wq), q.rel) == 1 for (_, q), wq in zip(fresh, w, strict=True))
    assert (
        fit_learned(train, l2=1e-3, start=start, epochs=150, confidence=False)[0].tolist() == a.tolist()
    )  # deterministic
    texts = [f"query {i}" for i in range(40)]
    vectors = {t: v for t, (v, _) in zip(texts, train, strict=True)}
    rows = [Row("train", "speech", "train", [q for _, q in train])]
    _, _, info = learn(rows, [texts], vectors, start, l2_grid=(1e-3, 1e-1), folds=2, epochs=150)
    assert info["l2"] in (1e-3, 1e-1) and set(info["cv_objective"]) == {"0.001", "0.1"} and info["queries"] == 40
    fresh_rows = [Row("test", "speech", "test", [q for _, q in fresh])]
    assert evaluate(fresh_rows, start)[0]["fused"][0] == 50.0  # the fixed weights
    assert evaluate(fresh_rows, start, [w])[0]["fused"][0] == 100.0  # per-query weights


def test_learned_fusion_never_trusts_a_ranker_less_as_its_own_best_clip_stands_further_out() -> None:
    """The fit's projection: in training queries where text.lexical's best clip stands far out and is wrong (noise
    that outvotes the answer at the start weights), an unconstrained fit learns a negative coefficient of
    text.lexical's weight on its own confidence; the fit keeps every ranker's own-confidence coefficients >= 0 and
    lowers the weight through the other inputs instead, still ranking the answers first."""
    from benchmarks.fusion_tune import RANKERS, QueryMatrix, _rank, features, fit_learned, fused_scores
    from indexer.fusion import ZSCORE_WEIGHTS

    rng = np.random.default_rng(7)
    lexical, visual = RANKERS.index("text.lexical"), RANKERS.index("visual")
    n, dim = len(RANKERS), 8

    def query() -> tuple[np.ndarray, QueryMatrix]:
        vec = rng.normal(size=dim)
        z = np.abs(rng.normal(scale=0.1, size=(6, n)))
        z[1, lexical] = rng.uniform(2.0, 10.0)  # a wrong clip stands out in text.lexical, by more or less
        z[0, visual] = 4.0  # the answer heads visual
        rel = np.zeros(6, bool)
        rel[0] = True
        q = QueryMatrix(ids=np.arange(6, dtype=np.int64), z=z, rel=rel)
        return features(vec / np.linalg.norm(vec), q, confidence=True), q

    start = np.array([ZSCORE_WEIGHTS[r] for r in RANKERS])
    train = [query() for _ in range(40)]
    own = [(i, dim + i) for i in range(n)] + [(i, dim + n + i) for i in range(n)]
    free, _ = fit_learned(train, l2=1e-3, start=start, epochs=150, confidence=False)  # the same inputs, unconstrained
    assert free[lexical, dim + lexical] < 0  # it would trust text.lexical less the further its best clip stands out
    a, b = fit_learned(train, l2=1e-3, start=start, epochs=150)
    assert min(a[i, j] for i, j in own) >= 0.0
    weights = [np.logaddexp(0.0, a @ x + b) for x, _ in train]
    assert all(_rank(fused_scores(q, w), q.rel) == 1 for (_, q), w in zip(train, weights, strict=True))

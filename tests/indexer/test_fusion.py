"""Fusion of channel rankings: RRF and weighted score arithmetic, clip-id tie-breaks, matched channels, the measuring
helpers, and a fused search that is a pure function of the indexes and the query (real tantivy, FAISS, MiniLM)."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest

from indexer.fusion import (
    CONFIDENCE_SCALE,
    DEFAULT_FUSION,
    DENSE_MATCH_MIN,
    FUSION_METHODS,
    LEARNED_WEIGHTS_PATH,
    ZSCORE_WEIGHTS,
    ZSCORE_WINDOW,
    Fused,
    LearnedWeights,
    Ranking,
    confidence_features,
    evaluate_fusion,
    fuse,
    matched_channels,
    recall_figures,
    shipped_learned_weights,
)

from .text_helpers import TextWorkspace, searcher


def _r(pairs: list[tuple[int, float]]) -> Ranking:
    return Ranking.of([c for c, _ in pairs], [s for _, s in pairs])


def test_ranking_orders_by_score_then_clip_id_and_drops_padding() -> None:
    r = Ranking.of([9, 4, -1, 7, 2], [0.5, 0.5, -math.inf, 0.9, 0.5])
    assert r.ids.tolist() == [7, 2, 4, 9] and r.scores.tolist() == [0.9, 0.5, 0.5, 0.5]


def test_rrf_and_weighted_score_arithmetic() -> None:
    rankings = {"visual": _r([(1, 0.9), (2, 0.5), (3, 0.1)]), "text.lexical": _r([(3, 7.0), (1, 2.0)])}
    rrf = {f.clip_id: f.score for f in fuse(rankings, method="rrf", rrf_k=60)}
    assert rrf == pytest.approx({1: 1 / 61 + 1 / 62, 2: 1 / 62, 3: 1 / 63 + 1 / 61})
    score = {f.clip_id: f for f in fuse(rankings, method="score", weights={"text": 2.0})}
    assert score[3].score == pytest.approx(0.0 + 2.0 * 1.0) and score[1].score == pytest.approx(1.0 + 0.0)
    assert score[2].score == pytest.approx((0.5 - 0.1) / 0.8)
    assert score[3].channel_scores() == pytest.approx({"visual": 0.0, "text": 2.0})
    assert [f.clip_id for f in fuse(rankings, method="rrf", weights={"visual": 0.0})] == [3, 1]  # weight 0 drops it
    assert [f.clip_id for f in fuse({"visual": _r([(5, 0.3), (4, 0.3)])}, method="score")] == [4, 5]  # equal: 1.0
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse(rankings, method="max")
    with pytest.raises(ValueError, match="must be a number >= 0"):
        fuse(rankings, weights={"text.lexical": -1})


def test_fused_ranking_is_deterministic_under_ties() -> None:
    # two rankers in mirrored order: clips at ranks (r, n + 1 - r) tie exactly under RRF; ties go to the smaller id
    ids = [40, 10, 30, 20]
    a = _r([(c, 1.0 - i / 4) for i, c in enumerate(ids)])
    b = _r([(c, 1.0 - i / 4) for i, c in enumerate(reversed(ids))])
    rrf = fuse({"description.dense": a, "visual": b}, method="rrf")
    assert [f.clip_id for f in rrf] == [20, 40, 10, 30]
    assert rrf[0].score == rrf[1].score and rrf[2].score == rrf[3].score
    vector = _unit(np.random.default_rng(0).normal(size=shipped_learned_weights().dim))
    for method in FUSION_METHODS:
        runs = []
        rankers = [("description.dense", a), ("visual", b), ("text.lexical", _r([(30, 2.0), (10, 2.0)]))]
        for seed in range(4):  # the order in which rankers arrive does not matter
            random.Random(seed).shuffle(rankers)
            runs.append([(f.clip_id, f.score) for f in fuse(dict(rankers), method=method, query_vector=vector)])
        assert all(run == runs[0] for run in runs), method
        assert runs[0] == sorted(runs[0], key=lambda t: (-t[1], t[0])), method


def test_zscore_arithmetic_pads_lexical_lists_and_ignores_the_depth() -> None:
    # a dense ranker: (s - its window's last score) / the window's std, in units of that ranker's weight
    dense = _r([(1, 0.5), (2, 0.4), (3, 0.3), (4, 0.2)])
    sd = float(np.std([0.5, 0.4, 0.3, 0.2]))
    got = {f.clip_id: f.score for f in fuse({"visual": dense}, method="zscore", weights={"visual": 1.0})}
    assert got == pytest.approx({1: 0.3 / sd, 2: 0.2 / sd, 3: 0.1 / sd, 4: 0.0})
    # a lexical list holds only clips that share a query word: the clips it leaves out score 0 (padded to the window)
    lex = _r([(7, 4.0)])
    padded = np.array([4.0] + [0.0] * (ZSCORE_WINDOW - 1))
    one = fuse({"text.lexical": lex}, method="zscore", weights={"text.lexical": 1.0})
    assert one[0].score == pytest.approx(4.0 / padded.std())
    # clips past the window do not move the statistics: a top 10 does not depend on how deep the rankers were cut
    long = _r([(i, 1.0 - i / 1000) for i in range(1, 3 * ZSCORE_WINDOW)])
    short = Ranking(ids=long.ids[:ZSCORE_WINDOW], scores=long.scores[:ZSCORE_WINDOW])
    top = [(f.clip_id, f.score) for f in fuse({"visual": long}, method="zscore")][:10]
    assert top == [(f.clip_id, f.score) for f in fuse({"visual": short}, method="zscore")][:10]
    # a list of equal scores has no confident match: it contributes nothing, ties go to the smaller clip id
    flat = fuse({"visual": _r([(5, 0.3), (4, 0.3)])}, method="zscore")
    assert [(f.clip_id, f.score) for f in flat] == [(4, 0.0), (5, 0.0)]
    assert all(w >= 0 for w in ZSCORE_WEIGHTS.values())


def test_default_fusion_lets_a_confident_match_beat_weak_agreement() -> None:
    # the failure of RRF (and of min-max score fusion): clip 1 is the only clip whose on-screen text holds the rare
    # query word (a BM25 score where every other clip has none); clip 2 merely heads four other rankers, a little
    # above a crowd of similar scores
    crowd = [(c, 0.30 - c / 1000) for c in range(10, 110)]
    rankings = {
        "text.lexical": _r([(1, 6.0)]),
        **{r: _r([(2, 0.31), *crowd]) for r in ("visual", "description.dense", "speech.dense", "text.dense")},
    }
    assert fuse(rankings, method="zscore")[0].clip_id == 1
    assert fuse(rankings, method="rrf")[0].clip_id == 2  # what the previous default returned
    # a ranker's top clip counts by how far it stands above that ranker's other scores, not by its raw value
    even = _r([(3, 0.9), *[(c, 0.9 - c / 1000) for c in range(10, 110)]])  # the head of an even spread
    apart = _r([(4, 0.5), *crowd])  # far above the rest
    equal = {"visual": 1.0, "description.dense": 1.0}
    assert fuse({"visual": even, "description.dense": apart}, method="zscore", weights=equal)[0].clip_id == 4


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_learned_fusion_is_zscore_with_the_query_s_own_weights() -> None:
    # w_r(q) = softplus(a_r . e(q) + b_r): a query along +e0 leans on the text channel, one along -e0 on the picture
    rankers = ("text.lexical", "visual")
    a = np.zeros((2, 4))
    a[0, 0], a[1, 0] = 3.0, -3.0
    learned = LearnedWeights(rankers=rankers, a=a, b=np.zeros(2), encoder="test-enc", info={"how": "by hand"})
    e0 = np.array([1.0, 0.0, 0.0, 0.0])
    w = learned.weights(e0)
    assert w == pytest.approx({"text.lexical": np.log1p(np.exp(3.0)), "visual": np.log1p(np.exp(-3.0))})
    crowd = [(c, 0.30 - c / 1000) for c in range(10, 110)]
    rankings = {"text.lexical": _r([(1, 2.0), (3, 1.9)]), "visual": _r([(2, 0.6), *crowd])}
    says_text = fuse(rankings, method="learned", query_vector=e0, learned=learned)
    shows = fuse(rankings, method="learned", query_vector=-e0, learned=learned)
    assert says_text[0].clip_id == 1 and shows[0].clip_id == 2
    assert [(f.clip_id, f.score) for f in says_text] == [
        (f.clip_id, f.score) for f in fuse(rankings, method="zscore", weights=w)
    ]
    # explicit weights override the learned ones; a learned fusion with neither weights nor a vector is refused
    assert fuse(rankings, method="learned", weights={"visual": 1.0, "text": 0.0})[0].clip_id == 2
    with pytest.raises(ValueError, match="query_vector"):
        fuse(rankings, method="learned")
    with pytest.raises(ValueError, match="dimension 4"):
        learned.weights(np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        learned.weights(np.array([np.nan, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="rankers"):
        LearnedWeights(rankers=rankers, a=np.zeros((3, 4)), b=np.zeros(2), encoder="x")


def test_learned_weights_round_trip_and_the_shipped_file(tmp_path) -> None:
    learned = LearnedWeights(
        rankers=("visual", "text.dense"), a=np.arange(6.0).reshape(2, 3) / 7, b=np.array([0.5, -1.0]), encoder="e"
    )
    back = LearnedWeights.load(learned.save(tmp_path / "w.json"))
    assert back.rankers == learned.rankers and back.encoder == "e"
    np.testing.assert_allclose(back.a, learned.a, rtol=1e-6)  # stored at float32 precision
    np.testing.assert_allclose(back.b, learned.b, rtol=1e-6)
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a learned fusion weights file"):
        LearnedWeights.load(tmp_path / "bad.json")
    # the shipped weights: every ranker of every channel, the text channels' encoder, fit on train/val only
    shipped = shipped_learned_weights()
    assert LEARNED_WEIGHTS_PATH.is_file() and DEFAULT_FUSION == "learned"
    assert set(shipped.rankers) == set(ZSCORE_WEIGHTS) and shipped.encoder == "minilm-l6-v2" and shipped.dim == 384
    assert shipped.info["tuned_on"] and all(row.split("/")[0] in ("train", "val") for row in shipped.info["tuned_on"])
    # ... and on no query the test split asks too (a brand query answered in train and in test is one query)
    assert shipped.info["left_out_test_queries"] > 0
    assert shipped.confidence
    weights = shipped.weights(_unit(np.ones(shipped.dim)), np.zeros(2 * len(shipped.rankers)))
    assert all(w > 0 and math.isfinite(w) for w in weights.values())
    with pytest.raises(ValueError, match="confidence features"):
        shipped.weights(_unit(np.ones(shipped.dim)))


def test_confidence_features_say_how_far_each_ranker_s_best_clip_stands_out() -> None:
    got = confidence_features(
        {"visual": np.array([0.0, 6.0, 2.0]), "text.lexical": np.array([4.0]), "speech.dense": np.array([])},
        ("speech.dense", "text.lexical", "visual", "description.dense"),
    )
    # per ranker: best / 10, then best - second best / 10 (a one-clip list: its best; absent or empty: 0)
    np.testing.assert_allclose(got, [0.0, 0.4, 0.6, 0.0, 0.0, 0.4, 0.4, 0.0])
    assert CONFIDENCE_SCALE == 10.0
    # a learned fusion with confidence features: here visual's weight grows with visual's best standardised score
    from indexer.fusion import _standardised

    a = np.zeros((2, 2 + 4))
    a[1, 2 + 1] = 5.0
    learned = LearnedWeights(rankers=("text.lexical", "visual"), a=a, b=np.zeros(2), encoder="e", confidence=True)
    assert learned.dim == 2
    crowd = [(c, 0.3 - c / 1000) for c in range(10, 60)]
    vec = np.array([1.0, 0.0])
    weights = []
    for top in (0.31, 0.9):
        rankings = {"text.lexical": _r([(1, 3.0)]), "visual": _r([(2, top), *crowd])}
        conf = confidence_features({r: _standardised(r, v.scores) for r, v in rankings.items()}, learned.rankers)
        w = learned.weights(vec, conf)
        weights.append(w["visual"])
        assert w["text.lexical"] == pytest.approx(np.log(2.0))  # softplus(0)
        fused = fuse(rankings, method="learned", query_vector=vec, learned=learned)
        assert [(f.clip_id, f.score) for f in fused] == [
            (f.clip_id, f.score) for f in fuse(rankings, method="zscore", weights=w)
        ]
    assert weights[1] > weights[0] > np.log(2.0)


def test_matched_channels_rules() -> None:
    f = Fused(
        7,
        0.1,
        contributions={"visual": 0.02, "text.lexical": 0.03, "speech.dense": 0.01, "description.dense": 0.04},
        ranks={"visual": 3, "text.lexical": 90, "speech.dense": 2, "description.dense": 1},
        raw={"visual": 0.2, "text.lexical": 1.5, "speech.dense": DENSE_MATCH_MIN - 0.01, "description.dense": 0.6},
    )
    # lexical: any rank; dense: top k and similar enough (speech is not); visual: top k; strongest first
    assert matched_channels(f, k=5) == ("description", "text", "visual")
    assert matched_channels(f, k=2) == ("description", "text")
    # a text kind's own dense ranker (description.tags) is a dense ranker: top k and similar enough
    tags = Fused(8, 0.1, contributions={"description.tags": 0.1}, ranks={"description.tags": 1},
                 raw={"description.tags": DENSE_MATCH_MIN - 0.01})  # fmt: skip
    assert matched_channels(tags, k=5) == ()
    tags = dataclasses.replace(tags, raw={"description.tags": DENSE_MATCH_MIN + 0.01})
    assert matched_channels(tags, k=5) == ("description",)


def test_recall_figures_and_evaluate_fusion() -> None:
    figures = recall_figures([[1, 2, 3], [4, 5, 6], [7]], [{2}, {9}, {7, 8}], ks=(1, 2))
    assert figures["R@1"] == pytest.approx(100 / 3) and figures["R@2"] == pytest.approx(200 / 3)
    assert figures["MdR"] == 2.0 and figures["queries"] == 3.0
    with pytest.raises(ValueError, match="relevance sets"):
        recall_figures([[1]], [{1}, {2}])
    queries = [
        {"visual": _r([(1, 0.9), (2, 0.8)]), "text.lexical": _r([(2, 3.0)]), "text.dense": _r([(2, 0.7), (1, 0.1)])},
        {"visual": _r([(3, 0.9), (4, 0.8)]), "text.dense": _r([(3, 0.5), (4, 0.4)])},
    ]
    vectors = [_unit(np.ones(shipped_learned_weights().dim))] * 2
    with_learned = evaluate_fusion(queries, [{2}, {3}], ks=(1,), query_vectors=vectors)
    assert with_learned["fused:learned"]["R@1"] == 100.0 and "channel:text" in with_learned
    with pytest.raises(ValueError, match="query vectors"):
        evaluate_fusion(queries, [{2}, {3}], query_vectors=vectors[:1])
    out = evaluate_fusion(queries, [{2}, {3}], ks=(1,))
    assert set(out) == {
        "ranker:visual",
        "ranker:text.lexical",
        "ranker:text.dense",
        "channel:visual",
        "channel:text",
        "fused:rrf",
        "fused:score",
        "fused:zscore",
    }
    assert out["ranker:visual"]["R@1"] == 50.0 and out["channel:text"]["R@1"] == 100.0
    assert out["fused:rrf"]["R@1"] == 100.0 and out["ranker:text.lexical"]["MdR"] == math.inf


def test_fused_search_is_a_pure_function_of_the_indexes_and_query(text_ws: TextWorkspace) -> None:
    s = searcher(text_ws.ws, text_ws.encoder)
    mega = sorted(text_ws.clips[key] for key in ((1, 1), (4, 1), (5, 1)))  # the same on-screen text "MEGA SALE"
    lexical = s.rankings("mega sale", channels="text")["text.lexical"]
    assert lexical.ids[:3].tolist() == mega and len(set(lexical.scores[:3].tolist())) == 1  # tied, by clip id
    assert s.rankings("mega sale", depth=2, channels="text")["text.lexical"].ids.tolist() == mega[:2]  # cut in a tie
    for method in FUSION_METHODS:
        runs = [[(h.clip_id, h.score, h.channels) for h in s.search("mega sale", k=6, fusion=method)] for _ in range(3)]
        assert runs[0] == runs[1] == runs[2]
        assert set(mega) <= {c for c, _, _ in runs[0]}
    text_only = s.search("mega sale", k=3, channels="text")
    assert [h.clip_id for h in text_only] == mega and all(h.snippet.highlighted() == "[MEGA] [SALE]" for h in text_only)
    assert np.all(np.diff([h.score for h in text_only]) <= 0)


def _reference_fuse(rankings, method, weights, rrf_k=60.0):
    """The dict-loop fusion the numpy one replaced, for comparison: sums over rankers in sorted order."""
    from indexer.fusion import _normalised, _standardised, _weight

    scores, contributions, ranks, raw = {}, {}, {}, {}
    for ranker in sorted(rankings):
        r, w = rankings[ranker], _weight(weights, ranker)
        if w == 0.0:
            continue
        if method == "rrf":
            parts = w / (rrf_k + np.arange(1, len(r) + 1, dtype=np.float64))
        elif method == "zscore":
            parts = w * _standardised(ranker, r.scores)
        else:
            parts = w * _normalised(r.scores)
        for rank, (cid, part, score) in enumerate(
            zip(r.ids.tolist(), parts.tolist(), r.scores.tolist(), strict=True), 1
        ):
            ranks.setdefault(cid, {})[ranker] = rank
            raw.setdefault(cid, {})[ranker] = float(score)
            contributions.setdefault(cid, {})[ranker] = part
            scores[cid] = scores.get(cid, 0.0) + part
    order = sorted(scores, key=lambda c: (-scores[c], c))
    return [(c, scores[c], contributions[c], ranks[c], raw[c]) for c in order]


@pytest.mark.parametrize("method", ["zscore", "rrf", "score"])
def test_fuse_equals_the_dict_loop_exactly_and_limit_keeps_the_head(method: str) -> None:
    rng = np.random.default_rng(7)
    for trial in range(30):
        rankings = {}
        for name in ("visual", "text.lexical", "text.dense", "speech.lexical", "speech.dense", "description.dense"):
            n = int(rng.integers(0, 120))
            ids = rng.choice(400, size=n, replace=False)
            scores = np.round(rng.normal(size=n), 1)  # rounded: many equal scores, within and across rankers
            rankings[name] = Ranking.of(ids, scores)
        weights = None if trial % 3 else {"text": 0.0, "visual": 2.0}
        full = fuse(rankings, method=method, weights=weights)
        want = _reference_fuse(
            rankings, method, weights if weights is not None else (ZSCORE_WEIGHTS if method == "zscore" else {})
        )
        assert [(f.clip_id, f.score, f.contributions, f.ranks, f.raw) for f in full] == want
        for limit in (0, 1, 10, 42, 10_000):
            assert fuse(rankings, method=method, weights=weights, limit=limit) == full[:limit]


def test_shipped_learned_weights_never_trust_a_ranker_less_as_its_own_best_clip_stands_further_out() -> None:
    """The shipped per-query weights (benchmarks.fusion_tune --learn): each ranker's weight is non-decreasing in its
    own confidence features (its best z-score and lead), whatever the query."""
    m = shipped_learned_weights()
    n, d = len(m.rankers), m.dim
    assert m.confidence
    assert min(min(m.a[i, d + i], m.a[i, d + n + i]) for i in range(n)) >= 0.0

"""Tune zscore fusion's per-ranker weights on the train and val splits only; report the chosen weights on test.

``python -m benchmarks.fusion_tune --workspace WS`` (also ``python -m benchmarks.search --tune``):

1. computes every ranker's list once per query (``Searcher.rankings``, top ``fusion_depth(10)``) for the brand,
   offer, speech and user-style query sets answered in the tuning splits (and, for the report, the test split),
   over the split's own gallery and the whole catalog; cached in ``<out>/fusion_rankings.pkl`` (reused while the
   benchmark's inputs, ``benchmarks.search.bench_inputs``, are unchanged);
2. tuning rows (``is_tuning_row``, ``tuning_part``): the train and val queries over their split's gallery and the
   whole catalog, less every query whose text the test split asks too (a brand query answered in train and test
   is one query; ``held_out_texts``); test rows and test queries are never looked at while tuning. Fit on a
   workspace whose models never trained on its catalog (the default ``make demo``): after ``--from-scratch`` the
   retriever and captioners trained on the train clips, and train rows would look easier than any new catalog;
3. coordinate search over ``GRID`` for each ranker's weight, from equal weights and from the shipped
   ``indexer.fusion.ZSCORE_WEIGHTS``, maximising ``objective``: the sum over tuning rows and R@1/5/10 of the
   shortfall of fused to the best single channel, plus ``USER_GAIN_WEIGHT`` x the user-style R@10 gain over the
   picture alone (val, whole catalog), plus ``MEAN_WEIGHT`` x the mean fused R@k (a tie-break);
4. prints the chosen weights, whether they equal the shipped ``ZSCORE_WEIGHTS``, and the figures per row, and
   writes ``<out>/fusion_tune.json``.

``--learn`` fits the ``learned`` fusion instead (``indexer.fusion.LearnedWeights``: per-query weights ``softplus(a .
x(q) + b)`` from the query's MiniLM vector and its rankings' confidence features, ``features``), on the same tuning rows
and rankings: a listwise loss (softmax over each query's candidates of the fused zscore sum, against its answers; each
query set weighing alike, ``set_weights``) plus ``l2 * |a|^2``, ``b`` starting at the shipped ``ZSCORE_WEIGHTS`` and
``a`` at 0, full-batch Adam, each ranker's coefficients on its own confidence features projected to >= 0 after every
step; ``l2`` chosen from ``L2_GRID`` by ``FOLDS``-fold cross-validation on the tuning queries (folds by query text, so a
query's two galleries stay together; the ``objective`` of the out-of-fold figures decides). It prints the tuning and
test rows (fused with the learned weights; each channel alone with the fixed, the equal and the learned weights, the
best counting), writes ``<out>/fusion_learned.json`` and, with ``--save PATH``, a copy there (``--save
indexer/fusion_learned.json`` is how the shipped file is made).

Scores are tie-safe as in ``benchmarks.search`` (answers sorted after non-answers of equal score). Fused scores are
computed on a candidate x ranker matrix, added in sorted ranker order as ``indexer.fusion.fuse`` adds them, so they
equal ``fuse(..., method="zscore")`` exactly (tests/benchmarks/test_search_bench.py checks it).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import pickle
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adsearch.defaults import DEFAULT_RETRIEVER
from adsearch.workspace import Workspace
from indexer.channels import CHANNELS, PART_RANKER_KINDS, TEXT_CHANNELS, VISUAL, channel_of_ranker

__all__ = [
    "GRID",
    "TUNE_SPLITS",
    "QueryMatrix",
    "Row",
    "as_rows",
    "collect",
    "coordinate_search",
    "evaluate",
    "fused_scores",
    "held_out_texts",
    "is_tuning_row",
    "load_or_collect",
    "main",
    "objective",
    "query_matrix",
    "set_weights",
    "tune",
    "tuning_part",
]

RANKERS = tuple(
    sorted(
        [f"{ch}.{r}" for ch in TEXT_CHANNELS for r in ("dense", "lexical", *PART_RANKER_KINDS.get(ch, ()))] + [VISUAL]
    )
)  # sorted: the order in which indexer.fusion.fuse adds rankers
CHANNEL_COLS = {ch: tuple(i for i, r in enumerate(RANKERS) if channel_of_ranker(r) == ch) for ch in CHANNELS}
TUNE_SPLITS = ("train", "val")
REPORT_SPLIT = "test"
GRID = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # no 0: a ranker at 0 would also empty its channel's own list
PASSES = 3
USER_GAIN_WEIGHT = 2.0
MEAN_WEIGHT = 0.5
KS = (1, 5, 10)
L2_GRID = (1e-4, 3e-5, 1e-5, 3e-6)  # learned fusion: the regularisation of a, chosen by cross-validation
FOLDS = 4
EPOCHS = 300
LEARN_RATE = 0.01
LEARN_CONFIDENCE = True  # x(q) = the query vector + its rankings' confidence features (indexer.fusion)
SET_WEIGHT_POWER = 1.0  # a tuning query's weight in the loss: n_set ** -power (``set_weights``)


@dataclass
class QueryMatrix:
    """One query: candidate clips (union of the rankers' lists), their zscore per ranker (0 when absent), answers."""

    ids: np.ndarray  # int64 (n,)
    z: np.ndarray  # float64 (n, len(RANKERS))
    rel: np.ndarray  # bool (n,)


@dataclass
class Row:
    """A (split, query set, gallery) row of the benchmark as matrices."""

    split: str
    set: str
    gallery: str
    queries: list[QueryMatrix]


def is_tuning_row(split: str, set_name: str, gallery: str) -> bool:
    """Rows tuned on: the train and val splits' queries, over their own split's clips and the whole catalog (less
    the queries the test split asks too: ``tuning_part``)."""
    return split in TUNE_SPLITS


def held_out_texts(ws: Workspace) -> set[str]:
    """The text of every query that ``REPORT_SPLIT`` scores: never tuned on, in any row. A brand, offer or speech
    query is answered in several splits, so the same text is a train or val query too; over the whole catalog its
    rankings and answers are even the same as the test row's."""
    from benchmarks.search import SETS, _chosen, load_bench_queries

    catalogs, _ = load_bench_queries(ws, SETS)
    return {q.text for cq in catalogs for s in SETS for q in _chosen(cq, s, REPORT_SPLIT)}


def tuning_part(
    raw: Sequence[Mapping[str, Any]], rows: Sequence[Row], held_out: set[str]
) -> list[tuple[dict[str, Any], Row]]:
    """The tuning rows (``is_tuning_row``) as (cached job, matrices) pairs, without the queries whose text is in
    ``held_out``; rows left empty are dropped."""
    out = []
    for j, r in zip(raw, rows, strict=True):
        if not is_tuning_row(r.split, r.set, r.gallery):
            continue
        keep = [i for i, q in enumerate(j["queries"]) if q["text"] not in held_out]
        if keep:
            job = {**j, "queries": [j["queries"][i] for i in keep]}
            out.append((job, Row(r.split, r.set, r.gallery, [r.queries[i] for i in keep])))
    return out


def query_matrix(rankings: Mapping[str, Any], relevant: set[int]) -> QueryMatrix:
    """The candidate x ranker zscore matrix of one query (``rankings``: ranker -> ``indexer.fusion.Ranking``)."""
    from indexer.fusion import _standardised

    ids = np.unique(np.concatenate([np.asarray(rankings[r].ids, np.int64) for r in RANKERS if r in rankings] or [[]]))
    ids = ids.astype(np.int64)
    pos = {int(c): i for i, c in enumerate(ids.tolist())}
    z = np.zeros((ids.size, len(RANKERS)))
    for k, r in enumerate(RANKERS):
        if r not in rankings:
            continue
        rk = rankings[r]
        z[[pos[int(c)] for c in rk.ids.tolist()], k] = _standardised(r, np.asarray(rk.scores))
    rel = np.fromiter((int(c) in relevant for c in ids.tolist()), dtype=bool, count=ids.size)
    return QueryMatrix(ids=ids, z=z, rel=rel)


def fused_scores(q: QueryMatrix, weights: np.ndarray, cols: Sequence[int] | None = None) -> np.ndarray:
    """zscore CombSUM of the query's candidates, rankers added in sorted order (as ``fuse``); ``cols``: only those."""
    s = np.zeros(q.ids.size)
    for k in range(len(RANKERS)) if cols is None else sorted(cols):
        if weights[k] != 0.0:
            s = s + weights[k] * q.z[:, k]
    return s


def _rank(scores: np.ndarray, rel: np.ndarray) -> float:
    if not rel.any():
        return math.inf
    return float(1 + np.count_nonzero((scores >= scores[rel].max()) & ~rel))


def _figures(ranks: Sequence[float]) -> np.ndarray:
    r = np.asarray(ranks, dtype=np.float64)
    return np.array([100.0 * float(np.mean(r <= k)) for k in KS])


def evaluate(
    rows: Sequence[Row], weights: Sequence[float], per_query: Sequence[Sequence[np.ndarray]] | None = None
) -> list[dict[str, Any]]:
    """Per row: fused R@1/5/10, each channel alone (its rankers with these weights, and with equal weights; the
    better of the two counts), the best channel and the picture alone. ``per_query``: per row, per query, the
    weight vector its fused figure uses instead of ``weights`` (learned fusion); a channel alone with those weights
    then counts as a third candidate for its figure."""
    w = np.asarray(weights, dtype=np.float64)
    ones = np.ones(len(RANKERS))
    out = []
    for i, row in enumerate(rows):
        own_w = per_query[i] if per_query is not None else [w] * len(row.queries)
        fused = _figures([_rank(fused_scores(q, qw), q.rel) for q, qw in zip(row.queries, own_w, strict=True)])
        chans = {}
        for ch, cols in CHANNEL_COLS.items():
            own = _figures([_rank(fused_scores(q, w, cols), q.rel) for q in row.queries])
            eq = _figures([_rank(fused_scores(q, ones, cols), q.rel) for q in row.queries])
            chans[ch] = np.maximum(own, eq)
            if per_query is not None:  # the channel alone as served with learned weights counts too
                served = [_rank(fused_scores(q, qw, cols), q.rel) for q, qw in zip(row.queries, own_w, strict=True)]
                chans[ch] = np.maximum(chans[ch], _figures(served))
        best = np.max(np.stack(list(chans.values())), axis=0)
        out.append(
            {"split": row.split, "set": row.set, "gallery": row.gallery, "n": len(row.queries), "fused": fused,
             "channels": chans, "best": best, "visual": chans["visual"]}
        )  # fmt: skip
    return out


def objective(evals: Sequence[Mapping[str, Any]]) -> float:
    """Shortfall to the best channel (summed over rows and R@k) + USER_GAIN_WEIGHT x user-style R@10 gain over the
    picture on the whole catalog + MEAN_WEIGHT x mean fused R@k."""
    short = sum(float(np.minimum(0.0, e["fused"] - e["best"]).sum()) for e in evals)
    gain = sum(float(e["fused"][2] - e["visual"][2]) for e in evals if e["set"] == "user" and e["gallery"] == "all")
    mean = float(np.mean([e["fused"].mean() for e in evals])) if evals else 0.0
    return short + USER_GAIN_WEIGHT * gain + MEAN_WEIGHT * mean


def coordinate_search(
    rows: Sequence[Row], start: Sequence[float], grid: Sequence[float] = GRID, passes: int = PASSES
) -> tuple[np.ndarray, float]:
    """Weights maximising ``objective`` on ``rows`` by one-ranker-at-a-time search over ``grid`` (first best kept;
    stops after a pass without a change)."""
    w = np.asarray(start, dtype=np.float64).copy()
    best = objective(evaluate(rows, w))
    for _ in range(passes):
        changed = False
        for k in range(len(RANKERS)):
            for g in grid:
                if g == w[k]:
                    continue
                w2 = w.copy()
                w2[k] = g
                o = objective(evaluate(rows, w2))
                if o > best + 1e-9:
                    best, w, changed = o, w2, True
        if not changed:
            break
    return w, best


def _as_vector(weights: Mapping[str, float]) -> np.ndarray:
    from indexer.fusion import _weight

    return np.array([_weight(weights, r) for r in RANKERS])


def tune(rows: Sequence[Row], starts: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Any]:
    """Tune on ``rows`` (tuning rows only) from each start; the best objective wins (ties: the first start)."""
    from indexer.fusion import ZSCORE_WEIGHTS

    starts = starts if starts is not None else {"equal": {}, "shipped": ZSCORE_WEIGHTS}
    tried = {}
    best_name = None
    for name, start in starts.items():
        w, o = coordinate_search(rows, _as_vector(start))
        tried[name] = {
            "start": dict(zip(RANKERS, _as_vector(start).tolist(), strict=True)),
            "weights": w,
            "objective": o,
        }
        if best_name is None or o > tried[best_name]["objective"] + 1e-9:
            best_name = name
    assert best_name is not None
    chosen = tried[best_name]["weights"]
    return {
        "weights": {r: float(v) for r, v in zip(RANKERS, chosen.tolist(), strict=True)},
        "objective": tried[best_name]["objective"],
        "from": best_name,
        "searches": {
            n: {**t, "weights": dict(zip(RANKERS, t["weights"].tolist(), strict=True))} for n, t in tried.items()
        },
    }


# --- learned fusion -----------------------------------------------------------------------------------------------
def _tensors(queries: Sequence[tuple[np.ndarray, QueryMatrix]]):
    """(vectors (Q, D), z (Q, N, R), answers (Q, N), mask (Q, N)) torch tensors, candidates padded to the longest."""
    import torch

    n = max(q.z.shape[0] for _, q in queries)
    z = np.zeros((len(queries), n, len(RANKERS)), np.float32)
    rel = np.zeros((len(queries), n), bool)
    mask = np.zeros((len(queries), n), bool)
    for i, (_, q) in enumerate(queries):
        z[i, : q.z.shape[0]], rel[i, : q.rel.size], mask[i, : q.rel.size] = q.z, q.rel, True
    vecs = np.stack([v for v, _ in queries]).astype(np.float32)
    return torch.from_numpy(vecs), torch.from_numpy(z), torch.from_numpy(rel), torch.from_numpy(mask)


def _listwise_loss(a, b, data, query_weights=None):
    """Mean over queries (weighted by ``query_weights``, (Q,) summing to 1; None: equal) of -log(softmax mass of the
    answers) under the fused scores ``sum_r w_r(q) z_r``."""
    import torch

    vecs, z, rel, mask = data
    w = torch.nn.functional.softplus(vecs @ a.T + b)  # (Q, R)
    s = (z * w[:, None, :]).sum(-1)
    neg = torch.tensor(-1e9)
    per = torch.logsumexp(torch.where(mask, s, neg), 1) - torch.logsumexp(torch.where(rel, s, neg), 1)
    return per.mean() if query_weights is None else (per * query_weights).sum()


def set_weights(sets: Sequence[str], power: float = SET_WEIGHT_POWER) -> np.ndarray:
    """Per tuning query, its weight in the loss: ``n_set ** -power`` for a query of a set with ``n_set`` tuning
    queries, normalised to sum 1 (power 0: every query alike; 1: every set alike). Train-split user-style queries
    outnumber the speech queries ten to one and the brand queries a hundred to one; unbalanced, the fit served them
    and lost brand and speech queries (docs/experiments.md, "Learned fusion fit on no test query, ...")."""
    names, counts = np.unique(np.asarray(sets), return_counts=True)
    n = dict(zip(names.tolist(), counts.tolist(), strict=True))
    w = np.array([float(n[s]) ** -power for s in sets])
    return w / w.sum()


def _own_confidence(width: int):
    """Bool mask over ``a`` (len(RANKERS), width) of each ranker's coefficients on its *own* confidence features
    (its best z-score and that score's lead; ``indexer.fusion.confidence_features``, the last 2 x len(RANKERS)
    inputs)."""
    import torch

    n = len(RANKERS)
    if width <= 2 * n:
        raise ValueError(f"inputs of width {width} hold no query vector before the {2 * n} confidence features")
    own = torch.zeros(n, width, dtype=torch.bool)
    for i in range(n):
        own[i, width - 2 * n + i] = own[i, width - n + i] = True
    return own


def fit_learned(
    queries: Sequence[tuple[np.ndarray, QueryMatrix]],
    l2: float,
    start: Sequence[float],
    epochs: int = EPOCHS,
    confidence: bool = LEARN_CONFIDENCE,
    query_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` minimising the listwise loss + ``l2 * |a|^2`` over ``queries`` ((vector, matrix) pairs with at
    least one answer), from ``a = 0`` and ``softplus(b) = start`` (deterministic: full batch, no sampling). With
    ``confidence`` (the inputs end with ``features``' confidence features), each ranker's coefficients on its own
    confidence are kept >= 0 after every step (projected gradient), so its weight never falls as its best clip
    stands further out; unconstrained, the fit lowered a one-word brand's on-screen match below noise from the
    other channels in a small catalog (docs/experiments.md, "Learned fusion, monotone in a ranker's own
    confidence")."""
    import torch

    data = _tensors(queries)
    qw = None if query_weights is None else torch.as_tensor(np.asarray(query_weights, np.float32))
    a = torch.zeros(len(RANKERS), data[0].shape[1], requires_grad=True)
    b = torch.tensor(np.log(np.expm1(np.asarray(start, np.float64))), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([a, b], lr=LEARN_RATE)
    own = _own_confidence(a.shape[1]) if confidence else None
    for _ in range(epochs):
        opt.zero_grad()
        loss = _listwise_loss(a, b, data, qw) + l2 * (a**2).sum()
        loss.backward()
        opt.step()
        if own is not None:  # projected: a ranker that stands out more is never trusted less
            with torch.no_grad():
                a[own] = a[own].clamp(min=0.0)
    return a.detach().double().numpy(), b.detach().double().numpy()


def learn(
    rows: Sequence[Row],
    texts: Sequence[Sequence[str]],
    vectors: Mapping[str, np.ndarray],
    start: Sequence[float],
    l2_grid: Sequence[float] = L2_GRID,
    folds: int = FOLDS,
    epochs: int = EPOCHS,
    confidence: bool = LEARN_CONFIDENCE,
    power: float = SET_WEIGHT_POWER,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fit ``(a, b)`` on the tuning ``rows`` (``texts[i][j]``: the text of query j of row i; its input ``features``
    of ``vectors[text]`` and, with ``confidence``, the query's rankings; its weight in the loss by its query set,
    ``set_weights(..., power)``), ``l2`` chosen by
    ``folds``-fold cross-validation grouped by query text: every query is fused with weights fit without its fold,
    and the l2 whose out-of-fold figures score the best ``objective`` wins (ties: the stronger regularisation).
    Returns ``(a, b, {"l2", "cv_objective": {l2: objective}, "queries"})``."""
    distinct = sorted({t for ts in texts for t in ts})
    fold_of = {t: int(hashlib.sha256(t.encode()).hexdigest(), 16) % folds for t in distinct}  # fixed, by text
    flat = [(i, j, t, q, features(vectors[t], q, confidence)) for i, (r, ts) in enumerate(zip(rows, texts, strict=True))
            for j, (t, q) in enumerate(zip(ts, r.queries, strict=True))]  # fmt: skip
    cv: dict[float, float] = {}
    for l2 in l2_grid:
        oof = [[np.asarray(start, np.float64)] * len(r.queries) for r in rows]
        for f in range(folds):
            part = [(i, x, q) for i, _, t, q, x in flat if fold_of[t] != f and q.rel.any()]
            if not part:
                continue
            weights = set_weights([rows[i].set for i, _, _ in part], power)
            a, b = fit_learned([(x, q) for _, x, q in part], l2, start, epochs, confidence, weights)
            for i, j, t, _, x in flat:
                if fold_of[t] == f:
                    oof[i][j] = np.logaddexp(0.0, a @ x + b)
        cv[l2] = objective(evaluate(rows, start, oof))
    best = max(l2_grid, key=lambda x: (cv[x], x))
    part = [(i, x, q) for i, _, _, q, x in flat if q.rel.any()]
    weights = set_weights([rows[i].set for i, _, _ in part], power)
    a, b = fit_learned([(x, q) for _, x, q in part], best, start, epochs, confidence, weights)
    info = {
        "l2": best,
        "cv_objective": {str(k): v for k, v in cv.items()},
        "queries": len(part),
        "set_weight_power": power,
    }
    return a, b, info


def _confidence(q: QueryMatrix) -> np.ndarray:
    """``indexer.fusion.confidence_features`` of the query's zscore columns (``RANKERS`` order), as ``fuse`` computes
    them from the rankings."""
    from indexer.fusion import confidence_features

    return confidence_features({r: q.z[:, k] for k, r in enumerate(RANKERS)}, RANKERS)


def features(vector: np.ndarray, q: QueryMatrix, confidence: bool = LEARN_CONFIDENCE) -> np.ndarray:
    """A query's input ``x(q)`` to ``LearnedWeights``: its vector, then (with ``confidence``) the confidence features
    of its rankings."""
    v = np.asarray(vector, np.float64).reshape(-1)
    return np.concatenate([v, _confidence(q)]) if confidence else v


def query_vectors(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The text channels' MiniLM vector of each distinct text (``indexer.text_index.TextEncoder``, one text per
    call, as a search encodes its query)."""
    from indexer.text_index import TextEncoder

    enc = TextEncoder()
    return {t: np.asarray(enc.encode([t]), np.float64)[0] for t in sorted(set(texts))}


def _learned_per_query(part: Sequence[tuple[Mapping[str, Any], Row]], model: Any) -> list[list[np.ndarray]]:
    """Per row, per query: the model's weight vector (``RANKERS`` order)."""
    out = []
    for j, row in part:
        per = []
        for q, m in zip(j["queries"], row.queries, strict=True):
            w = model.weights(q["vector"], _confidence(m) if model.confidence else None)
            per.append(np.array([w[r] for r in RANKERS]))
        out.append(per)
    return out


def run_learn(ws: Workspace, raw: Sequence[Mapping[str, Any]], rows: Sequence[Row], save: Path | None, out: Path):
    """``--learn``: fit, report the tuning and test rows, write the weights file(s); returns the weights."""
    from indexer.fusion import ZSCORE_WEIGHTS, LearnedWeights
    from indexer.text_index import TextEncoder

    t0 = time.perf_counter()
    vectors = query_vectors([q["text"] for j in raw for q in j["queries"]])
    for j in raw:
        for q in j["queries"]:
            q["vector"] = vectors[q["text"]]
    held_out = held_out_texts(ws)
    tuning = tuning_part(raw, rows, held_out)
    left_out = sum(
        q["text"] in held_out for j in raw if is_tuning_row(j["split"], j["set"], j["gallery"]) for q in j["queries"]
    )
    shipped = _as_vector(ZSCORE_WEIGHTS)
    a, b, fit = learn([r for _, r in tuning], [[q["text"] for q in j["queries"]] for j, _ in tuning], vectors, shipped)
    info = {
        "command": "python -m benchmarks.fusion_tune --learn --workspace WS",
        "workspace_catalogs": sorted({str(x) for x in _catalog_ids(ws)}),
        "tuned_on": [f"{r.split}/{r.set}/{r.gallery}" for _, r in tuning],
        "left_out_test_queries": left_out,  # tuning-row queries whose text the test split asks (``tuning_part``)
        "start": "softplus(b) = indexer.fusion.ZSCORE_WEIGHTS, a = 0",
        "epochs": EPOCHS,
        "learning_rate": LEARN_RATE,
        "folds": FOLDS,
        **fit,
    }
    model = LearnedWeights(
        rankers=RANKERS, a=a, b=b, encoder=TextEncoder().encoder_id, confidence=LEARN_CONFIDENCE, info=info
    )
    report_rows = [(j, r) for j, r in zip(raw, rows, strict=True) if r.split == REPORT_SPLIT]
    figures = {}
    for name, part in (("tune_rows", tuning), ("report_rows", report_rows)):
        if part:
            evals = evaluate([r for _, r in part], shipped, _learned_per_query(part, model))
            figures[name] = evals_json(evals)
            title = "tuning rows" if name == "tune_rows" else f"{REPORT_SPLIT} rows (never tuned on)"
            print(f"\n{title}, learned fusion:\n" + format_rows(evals))
    model = dataclasses.replace(model, info={**info, **figures})
    out.mkdir(parents=True, exist_ok=True)
    paths = [model.save(out / "fusion_learned.json")]
    if save is not None:
        paths.append(model.save(save))
    print(f"\nl2 {fit['l2']:g} (out-of-fold objective per l2: {fit['cv_objective']}); {fit['queries']} tuning "
          f"queries; wrote {', '.join(map(str, paths))} in {time.perf_counter() - t0:.0f} s")  # fmt: skip
    return model


def _catalog_ids(ws: Workspace) -> list[str]:
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        return [r["catalog_id"] for r in cat.query("SELECT catalog_id FROM catalogs ORDER BY 1")]


# --- the rankings -------------------------------------------------------------------------------------------------
def collect(ws: Workspace, splits: Sequence[str], model: str, progress: bool = True) -> list[dict[str, Any]]:
    """Every ranker's list per query for the query sets answered in ``splits``, over each split's gallery and the
    whole catalog: ``[{"split", "set", "gallery", "queries": [{"text", "relevant", "rankings": {r: (ids,
    scores)}}]}]``."""
    from benchmarks.search import SETS, _bench_searcher, _chosen, load_bench_queries
    from indexer.fusion import fusion_depth
    from indexer.search import Filters
    from media.progress import progress_bar

    catalogs, _ = load_bench_queries(ws, SETS)
    depth = fusion_depth(max(KS))
    jobs = []
    for split in splits:
        for cq in catalogs:
            for set_name in SETS:
                chosen = _chosen(cq, set_name, split)
                if not chosen:
                    continue
                own = {c for c, s in cq.clip_split.items() if s == split}
                jobs.append((split, set_name, split, own, Filters(catalog=cq.catalog_id, split=split), chosen))
                jobs.append((split, set_name, "all", set(cq.clip_split), Filters(catalog=cq.catalog_id), chosen))
    if not jobs:
        raise ValueError(f"no benchmark queries answered in splits {list(splits)}")
    searcher = _bench_searcher(ws, model, sorted({q.text for j in jobs for q in j[-1]}))
    out = []
    bar = progress_bar(total=sum(len(j[-1]) for j in jobs), desc="rankings", enabled=progress)
    try:
        for split, set_name, gallery, clips, filters, chosen in jobs:
            qs = []
            for q in chosen:
                r = searcher.rankings(q.text, depth=depth, filters=filters, channels=list(searcher.channels))
                qs.append(
                    {"text": q.text, "relevant": set(q.answers) & clips,
                     "rankings": {k: (v.ids, v.scores) for k, v in r.items()}}
                )  # fmt: skip
                bar.update(1)
            out.append({"split": split, "set": set_name, "gallery": gallery, "queries": qs})
    finally:
        bar.close()
    return out


def as_rows(raw: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Cached rankings as matrices (answers ordered after non-answers of equal score: tie-safe)."""
    from benchmarks.search import pessimistic
    from indexer.fusion import Ranking

    rows = []
    for j in raw:
        qs = []
        for q in j["queries"]:
            rk = {
                r: pessimistic(Ranking(ids=np.asarray(i, np.int64), scores=np.asarray(s, np.float64)), q["relevant"])
                for r, (i, s) in q["rankings"].items()
            }
            qs.append(query_matrix(rk, q["relevant"]))
        rows.append(Row(j["split"], j["set"], j["gallery"], qs))
    return rows


def _inputs_key(ws: Workspace, model: str, splits: Sequence[str]) -> str:
    from benchmarks.search import bench_inputs

    inputs = bench_inputs(ws, model)
    inputs.pop("configs", None)
    inputs.pop("fusion_weights", None)  # the rankings do not depend on how they are fused
    return hashlib.sha256(json.dumps({"inputs": inputs, "splits": list(splits)}, sort_keys=True).encode()).hexdigest()


def load_or_collect(ws: Workspace, out: Path, splits: Sequence[str], model: str, progress: bool) -> list[dict]:
    """Cached rankings from ``<out>/fusion_rankings.pkl`` when the benchmark's inputs are unchanged, else computed."""
    path = out / "fusion_rankings.pkl"
    key = _inputs_key(ws, model, splits)
    if path.is_file():
        with path.open("rb") as f:
            saved = pickle.load(f)
        if saved.get("key") == key:
            return saved["jobs"]
    jobs = collect(ws, splits, model, progress)
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump({"key": key, "jobs": jobs}, f)
    tmp.replace(path)
    return jobs


def _fmt(v: np.ndarray) -> str:
    return " / ".join(f"{x:.1f}" for x in v)


def format_rows(evals: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: fused vs the best single channel per row, R@1/5/10, and the user-style gain over the picture."""
    lines = ["| split | set | gallery | n | best channel R@1/5/10 | fused R@1/5/10 | shortfall | R@10 vs visual |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for e in evals:
        short = float(np.minimum(0.0, e["fused"] - e["best"]).sum())
        lines.append(
            f"| {e['split']} | {e['set']} | {e['gallery']} | {e['n']} | {_fmt(e['best'])} | {_fmt(e['fused'])} | "
            f"{short:.1f} | {e['fused'][2] - e['visual'][2]:+.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Tune, print the weights and the per-row figures, write ``fusion_tune.json``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.fusion_tune", description=__doc__.splitlines()[0])
    p.add_argument("--workspace", default=None, help="workspace folder (default: $ADSEARCH_HOME or ./workspace)")
    p.add_argument("--model", default=DEFAULT_RETRIEVER, help="retriever under <workspace>/models")
    p.add_argument("--out", default=None, help="output folder (default <workspace>/bench)")
    p.add_argument("--no-report", action="store_true", help=f"do not score the chosen weights on {REPORT_SPLIT}")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--learn", action="store_true", help="fit the learned (per-query) fusion weights instead")
    p.add_argument("--save", default=None, help="--learn: also write the weights here (indexer/fusion_learned.json)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from indexer.fusion import ZSCORE_WEIGHTS

    t0 = time.perf_counter()
    ws = Workspace.resolve(args.workspace)
    out = Path(args.out) if args.out else ws.bench_dir
    splits = TUNE_SPLITS if args.no_report else (*TUNE_SPLITS, REPORT_SPLIT)
    try:
        raw = load_or_collect(ws, out, splits, args.model, not args.no_progress)
    except (FileNotFoundError, ValueError) as e:
        print(f"benchmarks.fusion_tune: error: {e}", file=sys.stderr)
        return 2
    rows = as_rows(raw)
    if args.learn:
        run_learn(ws, raw, rows, Path(args.save) if args.save else None, out)
        return 0
    tune_rows = [r for _, r in tuning_part(raw, rows, held_out_texts(ws))]
    result = tune(tune_rows)
    w = np.array([result["weights"][r] for r in RANKERS])
    shipped = _as_vector(ZSCORE_WEIGHTS)
    same = bool(np.array_equal(w, shipped))
    report = {
        "tuned_on": [f"{r.split}/{r.set}/{r.gallery}" for r in tune_rows],
        **result,
        "shipped": dict(zip(RANKERS, shipped.tolist(), strict=True)),
        "equals_shipped": same,
        "tune_rows": evals_json(evaluate(tune_rows, w)),
        "report_rows": evals_json(evaluate([r for r in rows if r.split == REPORT_SPLIT], w)),
        "seconds": time.perf_counter() - t0,
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / "fusion_tune.json"
    path.write_text(json.dumps(report, indent=1, default=float) + "\n", encoding="utf-8")
    print("tuned on train/val; chosen zscore weights (ZSCORE_WEIGHTS):")
    print(json.dumps(result["weights"], indent=1, sort_keys=True))
    print(f"objective {result['objective']:.2f} (from the {result['from']} start); equal to the shipped "
          f"indexer.fusion.ZSCORE_WEIGHTS: {'yes' if same else 'NO'}")  # fmt: skip
    print("\ntuning rows:\n" + format_rows(evaluate(tune_rows, w)))
    report_rows = [r for r in rows if r.split == REPORT_SPLIT]
    if report_rows:
        print(f"\n{REPORT_SPLIT} rows (never tuned on):\n" + format_rows(evaluate(report_rows, w)))
    print(f"\nwrote {path} in {report['seconds']:.1f} s")
    return 0


def evals_json(evals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``evaluate``'s rows with plain lists."""
    return [
        {k: (v.tolist() if isinstance(v, np.ndarray) else {c: x.tolist() for c, x in v.items()} if isinstance(v, dict)
             else v) for k, v in e.items()}
        for e in evals
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

"""The search benchmark: every channel of a search, alone and fused, on the query sets the generator writes.

    python -m benchmarks.search --workspace workspace [--split test] [--model retriever-tiny]

Query sets (each query with every clip that answers it):

- ``brand``: "<Brand> <product> ad" for every brand shown on screen; answers: every clip showing that brand on
  screen (``corpus.synth.search_queries``, the strings of ``ocr_truth.jsonl``);
- ``offer``: the price, badge or call to action shown on screen, typed as a user would ("ad with 50% off", "play
  now ad"); answers: every clip showing it;
- ``speech``: what a voice-over says, in other words; answers: every clip of every video whose voice-over says it;
- ``user``: the user-style attribute queries of ``benchmarks.user_queries`` (``user_queries.jsonl``).

The first three come from ``search_queries.jsonl`` beside the manifest (``adsearch synth`` writes it; run it again
with the same --clips/--seed/--out on an older catalog: rendered videos and the manifest stay as they are).

Galleries: ``--split`` (default test: the queries answered by a clip of the split, with those clips as answers;
user-style queries: those written from a clip of the split, as ``benchmarks.recall`` does) and ``all`` (the same
queries over every clip of their catalog, every answer counted). Both are searched through the published indexes
with catalog filters, the path a filtered user search takes.

Each query's rankings are computed once (``Searcher.rankings``, ``fusion_depth(10)`` clips per ranker, as
``Searcher.search`` asks for a top 10) and scored for every ranker (``visual``, ``<channel>.lexical``,
``<channel>.dense``, ``<channel>.<kind>``), every channel alone (its rankers fused) and every fusion config
(``CONFIGS``: learned (the default: zscore with weights chosen per query from its MiniLM vector), zscore with its
fixed weights, RRF and score fusion, and weighted variants measured beside them).

Ranks are tie-safe: ties never help. Within each ranker's list, clips of equal score are put non-answers first
before fusing, and a list's rank is 1 + the number of non-answers scoring at least as high as its best-scored
answer; a single ranker whose tie at that score reaches the end of its truncated list counts as not found. The
figures as served (ties cut by clip id, as ``Searcher.search`` returns them; ``indexer.fusion.evaluate_fusion``)
are kept in the JSON as ``as_served``.

Writes ``search.json``, ``search.md`` and ``search_recall.png`` under ``--out`` (default ``<workspace>/bench``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adsearch.defaults import DEFAULT_RETRIEVER
from adsearch.workspace import Workspace
from benchmarks._report import markdown_table, write_report

__all__ = [
    "CONFIGS",
    "SETS",
    "BenchQuery",
    "bench_inputs",
    "format_report",
    "load_bench_queries",
    "main",
    "pessimistic",
    "plot_search",
    "run_or_reuse",
    "run_search",
    "score_query",
    "tie_safe_rank",
]

_log = logging.getLogger(__name__)

SETS = ("brand", "offer", "speech", "user")
KS = (1, 5, 10)
_LEXICAL = {"description.lexical": 2.0, "speech.lexical": 2.0, "text.lexical": 2.0}
_EQUAL = {r: 1.0 for r in ("visual", "description", "speech", "text")}
# Fusion configs scored on every query: name -> keyword arguments of indexer.fusion.fuse (each also gets the
# query's vector). "learned", "rrf", "score" and "zscore" use their default weights (learned is what Searcher.search
# serves: indexer.fusion.DEFAULT_FUSION); the others are variants measured beside them (zscore's fixed weights and
# the learned ones were chosen on the train and val splits).
CONFIGS: dict[str, dict[str, Any]] = {
    "learned": {"method": "learned"},
    "rrf": {"method": "rrf"},
    "score": {"method": "score"},
    "zscore": {"method": "zscore"},
    "zscore equal": {"method": "zscore", "weights": _EQUAL},
    "rrf visual x2": {"method": "rrf", "weights": {"visual": 2.0}},
    "rrf visual x0.5": {"method": "rrf", "weights": {"visual": 0.5}},
    "rrf lexical x2": {"method": "rrf", "weights": _LEXICAL},
    "score visual x2": {"method": "score", "weights": {"visual": 2.0}},
    "score visual x0.5": {"method": "score", "weights": {"visual": 0.5}},
    "score lexical x2": {"method": "score", "weights": _LEXICAL},
}
MAIN_CONFIGS = ("learned", "zscore", "rrf", "score")  # the fused rows of the main table
SEARCH_QUERIES_HINT = (
    "`adsearch synth` writes it (run it again with the same --clips/--seed/--out on an existing catalog: the "
    "rendered videos and the manifest stay as they are)"
)


# --- query sets ---------------------------------------------------------------------------------------------------
@dataclass
class BenchQuery:
    """One query of a set, mapped onto the clip ids of its catalog."""

    set: str
    query_id: str
    text: str
    catalog_id: str
    answers: list[int]  # every clip of the catalog that answers it
    source_clip: int | None = None  # user-style queries: the clip it was written from


@dataclass
class CatalogQueries:
    """The benchmark queries of one catalog and the split of each of its ok clips."""

    catalog_id: str
    queries: list[BenchQuery] = field(default_factory=list)
    clip_split: dict[int, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # file kind -> path
    n_unmapped: int = 0  # answers naming no ok clip of the catalog


def _query_file(ws: Workspace, catalog_id: str, source: str | None, name: str) -> Path | None:
    candidates = []
    if source:
        manifest = Path(source)
        candidates.append(manifest.parent / name)
        if not manifest.is_absolute():
            candidates.append(ws.root / manifest.parent / name)
    candidates.append(ws.catalogs_dir / catalog_id / name)
    return next((p for p in candidates if p.is_file()), None)


def load_bench_queries(ws: Workspace, sets: Sequence[str] = SETS) -> tuple[list[CatalogQueries], list[str]]:
    """The queries of ``sets`` for every live catalog of the workspace, and notes on what is missing.

    Raises:
        FileNotFoundError: no catalog in the workspace.
        ValueError: a query file cannot be read (names the file and line).
    """
    from benchmarks.user_queries import load_query_sets, missing_queries_message
    from corpus.synth.search_queries import SEARCH_QUERIES_NAME, read_search_queries
    from indexer.catalog import open_catalog

    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog at {ws.catalog_path}; run `adsearch ingest MANIFEST` (or `adsearch demo`)")
    notes: list[str] = []
    out: list[CatalogQueries] = []
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        catalogs = cat.query("SELECT catalog_id, source FROM catalogs WHERE NOT retired ORDER BY catalog_id")
        for c in catalogs:
            rows = cat.query(
                "SELECT v.uri, c.shot_index, c.clip_id, v.split FROM clips c JOIN videos v USING (video_id) "
                "WHERE v.catalog_id = ? AND v.status = 'ok'",
                [c["catalog_id"]],
            )
            clip_of = {(r["uri"], r["shot_index"]): r["clip_id"] for r in rows}
            cq = CatalogQueries(c["catalog_id"], clip_split={r["clip_id"]: r["split"] for r in rows})
            wanted = [s for s in sets if s != "user"]
            path = _query_file(ws, c["catalog_id"], c["source"], SEARCH_QUERIES_NAME) if wanted else None
            if wanted and path is None:
                notes.append(f"{c['catalog_id']}: no {SEARCH_QUERIES_NAME} beside its manifest; {SEARCH_QUERIES_HINT}")
            elif path is not None:
                cq.files["search"] = str(path)
                for q in read_search_queries(path):
                    if q.set not in wanted:
                        continue
                    answers = sorted({clip_of[m] for m in q.matches if m in clip_of})
                    cq.n_unmapped += len(q.matches) - len(answers)
                    if answers:
                        cq.queries.append(BenchQuery(q.set, q.query_id, q.text, c["catalog_id"], answers))
            out.append(cq)
    if "user" in sets:
        user_sets = {qs.catalog_id: qs for qs in load_query_sets(ws)}
        if not user_sets:
            notes.append(missing_queries_message())
        for cq in out:
            qs = user_sets.get(cq.catalog_id)
            if qs is None:
                continue
            cq.files["user"] = str(qs.path)
            cq.n_unmapped += qs.n_unmapped
            for i, text in enumerate(qs.texts):
                if qs.answers[i]:
                    cq.queries.append(
                        BenchQuery("user", f"user-{i}", text, cq.catalog_id, sorted(qs.answers[i]), qs.source_clip[i])
                    )
    for cq in out:
        if cq.n_unmapped:
            notes.append(
                f"{cq.catalog_id}: {cq.n_unmapped} answers in its query files name no ok clip of the catalog "
                "(failed videos, or query files of another catalog)"
            )
    return out, notes


def _chosen(cq: CatalogQueries, set_name: str, split: str) -> list[BenchQuery]:
    """The queries of a set scored with ``split``: answered by a clip of the split (user-style queries: written
    from one, as ``benchmarks.recall`` scores them)."""
    out = []
    for q in cq.queries:
        if q.set != set_name:
            continue
        if set_name == "user":
            if q.source_clip is not None and cq.clip_split.get(q.source_clip) == split:
                out.append(q)
        elif any(cq.clip_split.get(c) == split for c in q.answers):
            out.append(q)
    return out


# --- tie-safe scoring ---------------------------------------------------------------------------------------------
def pessimistic(ranking: Any, relevant: set[int]) -> Any:
    """``ranking`` (``indexer.fusion.Ranking``) with each group of equal scores ordered non-answers first (then by
    clip id): the order in which a tie never helps an answer."""
    from indexer.fusion import Ranking

    is_rel = np.fromiter((int(c) in relevant for c in ranking.ids), dtype=bool, count=len(ranking.ids))
    order = np.lexsort((ranking.ids, is_rel, -ranking.scores))
    return Ranking(ids=ranking.ids[order], scores=ranking.scores[order])


def tie_safe_rank(ids: Sequence[int], scores: Sequence[float], relevant: set[int], depth: int | None = None) -> float:
    """1 + the number of non-answers scoring at least as high as the best-scored answer of a result list (``inf``
    when the list holds no answer, or when ``depth`` is given, the list is that long and its last score ties that
    answer: clips past the cut may tie it too)."""
    ids_a = np.asarray(ids, dtype=np.int64)
    sc = np.asarray(scores, dtype=np.float64)
    is_rel = np.fromiter((int(c) in relevant for c in ids_a), dtype=bool, count=ids_a.size)
    if not is_rel.any():
        return math.inf
    best = sc[is_rel].max()
    if depth is not None and ids_a.size >= depth and sc[-1] >= best:
        return math.inf
    return float(1 + np.count_nonzero((sc >= best) & ~is_rel))


def score_query(
    rankings: Mapping[str, Any],
    relevant: set[int],
    depth: int,
    configs: Mapping[str, Mapping[str, Any]] = CONFIGS,
    query_vector: np.ndarray | None = None,
) -> dict[str, float]:
    """Tie-safe ranks of one query: ``ranker:<r>`` per ranker, ``channel:<c>`` per channel (its rankers fused with
    the default method and weights, as ``Searcher.search(channels=[c])``), ``fused:<config>`` per config.
    ``query_vector``: the query's sentence vector (``Searcher.query_vector``), which learned fusion needs; without
    it the default method is zscore and the learned config is skipped."""
    from indexer.channels import CHANNELS, channel_of_ranker
    from indexer.fusion import DEFAULT_FUSION, fuse

    worst = {r: pessimistic(v, relevant) for r, v in rankings.items()}
    out: dict[str, float] = {}
    for r in sorted(rankings):
        out[f"ranker:{r}"] = tie_safe_rank(rankings[r].ids, rankings[r].scores, relevant, depth)
    default = DEFAULT_FUSION if query_vector is not None else "zscore"
    for ch in CHANNELS:
        own = {r: v for r, v in worst.items() if channel_of_ranker(r) == ch}
        if own:
            fused = fuse(own, method=default, query_vector=query_vector)
            out[f"channel:{ch}"] = tie_safe_rank([f.clip_id for f in fused], [f.score for f in fused], relevant)
    for name, kwargs in configs.items():
        if kwargs.get("method") == "learned" and query_vector is None and "weights" not in kwargs:
            continue
        fused = fuse(worst, query_vector=query_vector, **kwargs)
        out[f"fused:{name}"] = tie_safe_rank([f.clip_id for f in fused], [f.score for f in fused], relevant)
    return out


def _figures(ranks: Sequence[float]) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    out = {f"R@{k}": float(100.0 * np.mean(r <= k)) for k in KS}
    mdr = float(np.median(r))
    out["MdR"] = mdr if math.isfinite(mdr) else None  # None: more than half of the queries not found
    out["n"] = int(r.size)
    return out


# --- the run ------------------------------------------------------------------------------------------------------
def bench_inputs(ws: Workspace, model: str = DEFAULT_RETRIEVER) -> dict[str, Any]:
    """What the benchmark's result depends on: the retriever, the published video and text index versions, the
    query files and the learned fusion weights (digests), so a caller can reuse a saved result when none changed."""
    import indexer.fusion
    from indexer.channels import TEXT_CHANNELS
    from indexer.text_index import TextEncoder, text_model_id
    from indexer.versions import active_version
    from retrieval import read_checkpoint_meta

    model_id = read_checkpoint_meta(ws.models_dir / model)["model_id"]
    encoder_id = TextEncoder().encoder_id
    text = {ch: active_version(ws.indexes_dir, text_model_id(ch, encoder_id)) for ch in TEXT_CHANNELS}
    files = {}
    if ws.catalog_path.is_file():
        catalogs, _ = load_bench_queries(ws)
        for cq in catalogs:
            for kind, path in sorted(cq.files.items()):
                files[f"{cq.catalog_id}/{kind}"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return {
        "model_id": model_id,
        "version": active_version(ws.indexes_dir, model_id),
        "text_versions": text,
        "query_files": files,
        "fusion_weights": hashlib.sha256(indexer.fusion.LEARNED_WEIGHTS_PATH.read_bytes()).hexdigest()[:16],
        "configs": CONFIGS,
    }


def run_search(
    ws: Workspace,
    *,
    model: str = DEFAULT_RETRIEVER,
    split: str = "test",
    sets: Sequence[str] = SETS,
    searcher: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every query set per ranker, channel and fusion config on ``split`` and on the whole catalog.

    Args:
        searcher: An ``indexer.search.Searcher`` over the workspace (default: ``adsearch.index.open_searcher``).

    Returns:
        ``{"model_id", "index_version", "channels", "depth", "split", "configs", "results": [one per (catalog,
        set, gallery): {"set", "gallery", "catalog_id", "n_gallery", "n_queries", "mean_answers", "figures": {name:
        {R@1, R@5, R@10, MdR, n}}, "as_served": {...}, "examples"}], "notes", "seconds"}``.

    Raises:
        FileNotFoundError: no catalog, retriever or published index (the message names the command to run).
    """
    from indexer.fusion import evaluate_fusion, fusion_depth
    from indexer.search import Filters
    from media.progress import progress_bar

    t0 = time.perf_counter()
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        raise ValueError(f"unknown query set(s) {unknown}; sets: {', '.join(SETS)}")
    catalogs, notes = load_bench_queries(ws, sets)
    depth = fusion_depth(max(KS))
    jobs = []
    for cq in catalogs:
        for set_name in sets:
            chosen = _chosen(cq, set_name, split)
            if not chosen:
                if any(q.set == set_name for q in cq.queries):
                    notes.append(f"{cq.catalog_id}: no {set_name} query is answered in split {split!r}")
                continue
            gallery_split = {c for c, s in cq.clip_split.items() if s == split}
            for gallery, clips, filters in (
                (split, gallery_split, Filters(catalog=cq.catalog_id, split=split)),
                ("all", set(cq.clip_split), Filters(catalog=cq.catalog_id)),
            ):
                jobs.append((cq, set_name, gallery, clips, filters, chosen))
    if searcher is None:
        searcher = _bench_searcher(ws, model, sorted({q.text for job in jobs for q in job[-1]}))
    channels = list(searcher.channels)
    missing = [c for c in ("description", "speech", "text") if c not in channels]
    if missing:
        notes.append(
            f"no published index for channel(s) {', '.join(missing)} (no texts of their kinds, or text indexes not "
            "built: `adsearch index build`); their rows are absent"
        )
    bar = progress_bar(total=sum(len(j[-1]) for j in jobs), desc="search bench", unit="query", enabled=progress)
    results = []
    for cq, set_name, gallery, clips, filters, chosen in jobs:
        per_query, relevant, all_rankings, vectors = [], [], [], []
        for q in chosen:
            rel = set(q.answers) & clips
            rankings = searcher.rankings(q.text, depth=depth, filters=filters, channels=channels)
            vector = searcher.query_vector(q.text)
            all_rankings.append(rankings)
            relevant.append(rel)
            vectors.append(vector)
            per_query.append(score_query(rankings, rel, depth, query_vector=vector))
            bar.update()
        names = sorted({n for p in per_query for n in p}, key=_row_order)
        figures = {n: _figures([p.get(n, math.inf) for p in per_query]) for n in names}
        with_vectors = all(v is not None for v in vectors)
        served = evaluate_fusion(
            all_rankings,
            relevant,
            configs={n: c for n, c in CONFIGS.items() if with_vectors or c["method"] != "learned"},
            ks=KS,
            query_vectors=vectors if with_vectors else None,
        )
        step = max(1, len(chosen) // 5)
        results.append(
            {
                "catalog_id": cq.catalog_id,
                "set": set_name,
                "gallery": gallery,
                "n_gallery": len(clips),
                "n_queries": len(chosen),
                "mean_answers": float(np.mean([len(r) for r in relevant])),
                "figures": figures,
                "as_served": served,
                "examples": [
                    {
                        "query": q.text,
                        "answers": len(relevant[i]),
                        "ranks": {
                            n: _finite(per_query[i].get(n, math.inf)) for n in names if not n.startswith("ranker:")
                        },
                    }
                    for i, q in list(enumerate(chosen))[::step][:5]
                ],
            }
        )
    bar.close()
    return {
        "model_id": searcher.model_id,
        "index_version": searcher.version,
        "channels": channels,
        "depth": depth,
        "split": split,
        "sets": list(sets),
        "configs": CONFIGS,
        "results": results,
        "notes": notes,
        "seconds": time.perf_counter() - t0,
    }


class _Prefilled:
    """A text encoder (texts -> (N, D) float32) with the vectors of known texts computed up front, one text per call
    as a search encodes its query (a batch pads texts together, which moves scores by float rounding and can reorder
    near-ties), on one torch thread (single short texts encode ~10x faster so on a loaded 2-core machine)."""

    def __init__(self, encode: Any, texts: Sequence[str]) -> None:
        import torch

        self._encode = encode
        self._cache: dict[str, np.ndarray] = {}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for t in texts:
                self._cache[t] = np.asarray(encode([t]), dtype=np.float32)[0]
        finally:
            torch.set_num_threads(threads)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if all(t in self._cache for t in texts):
            return np.stack([self._cache[t] for t in texts])
        return self._encode(list(texts))


def _bench_searcher(ws: Workspace, model: str, texts: Sequence[str]) -> Any:
    """A ``Searcher`` over the workspace like ``adsearch.index.open_searcher``'s, whose query encoders (the
    retriever's text tower, the text channels' MiniLM) encoded the benchmark's query texts in batches up front."""
    from indexer.search import Searcher
    from indexer.text_index import TextChannels, TextEncoder
    from retrieval import encode_queries, load_checkpoint, read_checkpoint_meta

    path = ws.models_dir / model
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"no retriever checkpoint at {path}; run `adsearch train-retriever` (or `adsearch demo`)"
        )
    net = load_checkpoint(path)
    encoder = TextEncoder()
    expand = TextChannels(ws.indexes_dir, encoder).expand  # the visual and description channels search expanded
    texts = list(dict.fromkeys([*texts, *(expand(t) for t in texts)]))

    class _Encoder(TextEncoder):  # the text channels' encoder, same id, prefilled
        def __init__(self) -> None:
            super().__init__()
            self._prefilled = _Prefilled(encoder.encode, texts)

        def encode(self, batch: Sequence[str]) -> np.ndarray:
            return self._prefilled(batch)

    return Searcher(
        ws.catalog_path,
        ws.indexes_dir,
        model_id=str(read_checkpoint_meta(path)["model_id"]),
        encode_text=_Prefilled(lambda batch: encode_queries(net, batch), texts),
        workspace_root=ws.root,
        text_channels=TextChannels(ws.indexes_dir, _Encoder()),
    )


def _finite(rank: float) -> int | None:
    return int(rank) if math.isfinite(rank) else None


def _row_order(name: str) -> tuple[int, int, str]:
    from indexer.channels import CHANNELS

    kind, _, rest = name.partition(":")
    if kind == "channel":
        return (0, CHANNELS.index(rest), rest)
    if kind == "fused":
        return (1, list(CONFIGS).index(rest) if rest in CONFIGS else 99, rest)
    return (2, 0, rest)


# --- report -------------------------------------------------------------------------------------------------------
def _label(name: str) -> str:
    kind, _, rest = name.partition(":")
    return {"channel": rest, "fused": f"fused ({rest})", "ranker": f"  {rest}"}[kind]


def best_single_channel(figures: Mapping[str, Mapping[str, float]], k: str = "R@10") -> tuple[str, float]:
    """The channel alone with the highest ``k`` (ties: the higher R@1, then R@5, then the first in channel order)."""
    chans = [(n, f) for n, f in figures.items() if n.startswith("channel:")]
    if not chans:
        return "—", float("nan")
    name, f = max(chans, key=lambda nf: (nf[1][k], nf[1]["R@1"], nf[1]["R@5"]))
    return name.partition(":")[2], f[k]


def format_report(result: Mapping[str, Any]) -> str:
    """Markdown: per gallery, each set's channels alone and fused (R@1/5/10, MdR), then fused vs the best single
    channel, then the fusion configs' mean R@1/R@10 over the sets."""
    from indexer.fusion import DEFAULT_FUSION

    lines = [
        f"## Search benchmark: every channel alone and fused ({result['model_id']}, index {result['index_version']})",
        "",
        f"Channels searched: {', '.join(result['channels'])}; each ranker's top {result['depth']}; ranks tie-safe.",
    ]
    galleries = list(dict.fromkeys(r["gallery"] for r in result["results"]))
    for gallery in galleries:
        rows = []
        for r in (x for x in result["results"] if x["gallery"] == gallery):
            for name, f in r["figures"].items():
                if name.startswith("ranker:") or (name.startswith("fused:") and name[6:] not in MAIN_CONFIGS):
                    continue
                rows.append({"set": r["set"], "n": r["n_queries"], "answers": r["mean_answers"], "name": name, **f})
        if not rows:
            continue
        n_gallery = max(x["n_gallery"] for x in result["results"] if x["gallery"] == gallery)
        what = "the whole catalog" if gallery == "all" else f"split {gallery}"
        lines += ["", f"### Gallery: {what} ({n_gallery} clips)", ""]
        lines.append(
            markdown_table(
                rows,
                [
                    ("query set", lambda x: x["set"]),
                    ("queries", lambda x: x["n"]),
                    ("answers/query", lambda x: round(x["answers"], 1)),
                    ("ranking", lambda x: _label(x["name"])),
                    ("R@1", lambda x: round(x["R@1"], 1)),
                    ("R@5", lambda x: round(x["R@5"], 1)),
                    ("R@10", lambda x: round(x["R@10"], 1)),
                    ("MdR", lambda x: "not found" if x["MdR"] is None else x["MdR"]),
                ],
            )
        )
    summary = []
    for r in result["results"]:
        name, best = best_single_channel(r["figures"])
        row = {"set": r["set"], "gallery": r["gallery"], "best": f"{name} {best:.1f}"}
        for cfg in MAIN_CONFIGS:
            f = r["figures"].get(f"fused:{cfg}")
            row[cfg] = None if f is None else f"{f['R@10']:.1f} ({f['R@10'] - best:+.1f})"
        visual = r["figures"].get("channel:visual")
        served = r["figures"].get(f"fused:{DEFAULT_FUSION}")
        row["gain"] = None if visual is None or served is None else served["R@10"] - visual["R@10"]
        summary.append(row)
    if summary:
        lines += ["", "### Fused vs the best single channel (R@10)", ""]
        lines.append(
            markdown_table(
                summary,
                [
                    ("query set", lambda x: x["set"]),
                    ("gallery", lambda x: x["gallery"]),
                    ("best channel alone", lambda x: x["best"]),
                    *[(f"fused {c} (vs best)", lambda x, c=c: x[c]) for c in MAIN_CONFIGS],
                    (
                        f"{DEFAULT_FUSION} gain over visual",
                        lambda x: None if x["gain"] is None else f"{x['gain']:+.1f}",
                    ),
                ],
            )
        )
    configs = config_table(result)
    if configs:
        lines += ["", "### Fusion configs: mean over query sets and galleries", ""]
        lines.append(
            markdown_table(
                configs,
                [
                    ("config", lambda x: x["config"]),
                    ("mean R@1", lambda x: round(x["R@1"], 1)),
                    ("mean R@5", lambda x: round(x["R@5"], 1)),
                    ("mean R@10", lambda x: round(x["R@10"], 1)),
                    ("sets where fused >= best channel (R@10)", lambda x: x["wins"]),
                ],
            )
        )
    for note in result["notes"]:
        lines.append(f"\nnote: {note}")
    return "\n".join(lines)


def config_table(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per fusion config: R@1/5/10 averaged over every (set, gallery) row (each row weighs the same), and in how
    many rows its R@10 reaches the best single channel's."""
    out = []
    rows = result["results"]
    for cfg in result["configs"]:
        figs = [r["figures"].get(f"fused:{cfg}") for r in rows]
        if not rows or any(f is None for f in figs):
            continue
        wins = sum(f["R@10"] >= best_single_channel(r["figures"])[1] for f, r in zip(figs, rows, strict=True))
        out.append(
            {"config": cfg, **{f"R@{k}": float(np.mean([f[f"R@{k}"] for f in figs])) for k in KS}}
            | {"wins": f"{wins}/{len(rows)}"}
        )
    return out


def plot_search(result: Mapping[str, Any], path: Path) -> Path:
    """A PNG of R@10 per query set (bars: each channel alone, then each of ``MAIN_CONFIGS`` fused), one panel per
    gallery."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    galleries = list(dict.fromkeys(r["gallery"] for r in result["results"])) or ["(none)"]
    names = [f"channel:{c}" for c in result["channels"]] + [f"fused:{c}" for c in MAIN_CONFIGS]
    fig, axes = plt.subplots(1, len(galleries), figsize=(6 * len(galleries), 4.2), dpi=120, squeeze=False)
    for ax, gallery in zip(axes[0], galleries, strict=True):
        rows = [r for r in result["results"] if r["gallery"] == gallery]
        x = np.arange(len(rows))
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            values = [r["figures"].get(name, {}).get("R@10", 0.0) for r in rows]
            ax.bar(x + i * width - 0.4 + width / 2, values, width, label=_label(name))
        ax.set_xticks(x, [f"{r['set']}\n({r['n_queries']})" for r in rows])
        ax.set(ylim=(0, 101), ylabel="R@10 (%), tie-safe", title=f"gallery: {gallery}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Search channels alone and fused, {result['model_id']}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def write_outputs(ws_or_dir: Workspace | Path, result: dict[str, Any]) -> tuple[str, list[Path]]:
    """Write search.json, search.md and search_recall.png; returns (the markdown, the paths)."""
    out = ws_or_dir.bench_dir if isinstance(ws_or_dir, Workspace) else Path(ws_or_dir)
    table = format_report(result)
    json_path, md_path = write_report(out, "search", result, table)
    png = plot_search(result, out / "search_recall.png")
    return table, [json_path, md_path, png]


def run_or_reuse(ws: Workspace, *, model: str = DEFAULT_RETRIEVER, progress: bool = True) -> tuple[str, bool]:
    """The benchmark's markdown, reusing ``<workspace>/bench/search.json`` when nothing it depends on changed
    (``bench_inputs``), else running it and writing its files; returns (markdown, reused)."""
    inputs = bench_inputs(ws, model)
    saved_json, saved_md = ws.bench_dir / "search.json", ws.bench_dir / "search.md"
    if saved_json.is_file() and saved_md.is_file():
        try:
            saved = json.loads(saved_json.read_text(encoding="utf-8"))
        except ValueError:
            saved = {}
        if saved.get("inputs") == json.loads(json.dumps(inputs)):
            return saved_md.read_text(encoding="utf-8"), True
    result = run_search(ws, model=model, progress=progress)
    result["inputs"] = inputs
    table, _ = write_outputs(ws, result)
    return table, False


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.search``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.search",
        description="Brand, offer, speech and user-style queries scored per search channel and fused.",
    )
    p.add_argument("--workspace", default=None, help="workspace folder (default: $ADSEARCH_HOME or ./workspace)")
    p.add_argument("--split", default="test", help="split scored beside the whole catalog (default test)")
    p.add_argument("--sets", default=",".join(SETS), help=f"query sets, comma-separated (default {','.join(SETS)})")
    p.add_argument(
        "--model", default=DEFAULT_RETRIEVER, help="retriever under <workspace>/models (default %(default)s)"
    )
    p.add_argument("--out", default=None, help="output folder (default <workspace>/bench)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="default split, sets and out only: print the saved search.md instead of running when nothing it depends "
        "on changed (bench_inputs)",
    )
    p.add_argument(
        "--tune",
        action="store_true",
        help="tune zscore fusion's weights on the train/val splits instead (benchmarks.fusion_tune; test: report only)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables and write search.json / search.md / search_recall.png."""
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from the workspace; never wait on the hub
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("media.progress").setLevel(logging.INFO)  # progress lines when stderr is not a terminal
    if args.tune:
        from benchmarks import fusion_tune

        extra = ["--model", args.model] + (["--out", args.out] if args.out else [])
        extra += ["--workspace", args.workspace] if args.workspace else []
        return fusion_tune.main(extra + (["--no-progress"] if args.no_progress else []))
    ws = Workspace.resolve(args.workspace)
    if args.reuse:  # what `adsearch demo` runs
        if (args.split, args.sets, args.out) != (parser.get_default("split"), parser.get_default("sets"), None):
            parser.error("--reuse works with the default --split, --sets and --out")
        try:
            table, reused = run_or_reuse(ws, model=args.model, progress=not args.no_progress)
        except (FileNotFoundError, ValueError) as e:
            print(f"benchmarks.search: error: {e}", file=sys.stderr)
            return 2
        print(
            f"nothing changed since {ws.bench_dir / 'search.md'} was computed; its tables:\n" if reused else "", end=""
        )
        print(table)
        if not reused:
            print(f"\nwrote {ws.bench_dir}/search.json, search.md, search_recall.png")
        return 0
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    try:
        result = run_search(ws, model=args.model, split=args.split, sets=sets, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as e:
        print(f"benchmarks.search: error: {e}", file=sys.stderr)
        return 2
    table, paths = write_outputs(Path(args.out) if args.out else ws, result)
    print(table)
    print(f"\nwrote {', '.join(map(str, paths))} in {result['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

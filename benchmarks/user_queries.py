"""User-style queries in the recall benchmark: short, partial queries in held-out wording, answered by every clip
that satisfies them, scored on the test split and on the whole catalog (run by ``python -m benchmarks.recall``).

Where the queries come from: ``corpus.synth.queries`` writes them when ``generate_catalog`` (``adsearch synth``,
``adsearch demo``) generates a catalog, as ``user_queries.jsonl`` beside the manifest, each query with every clip
of the catalog whose ground-truth attributes satisfy it, named by (video uri, clip index in the manifest row).
That file is read rather than regenerated from a seed because a workspace's catalog does not record the seed,
size and frame rate it was generated with, while the manifest path does travel with it (``catalogs.source``), and
(uri, clip index) maps back to clip ids through ``videos.uri`` and ``clips.shot_index`` whatever the workspace;
the uris carry a digest of each video's content, so a file of another catalog maps to nothing and says so. A
catalog generated before the file existed gets it by running the same ``adsearch synth`` again: rendered videos
are kept and the manifest is unchanged, so nothing needs re-ingesting.

Scoring: the queries written from clips of ``--split`` (default test) are searched through the published index
(the path a filtered user search takes), once with the split's clips as the gallery (the answers are the matching
clips of that split) and once with every clip of the catalog, all splits (the answers are all matching clips). A
query is found at rank r = the best rank of any matching clip, counted tie-safe: r = 1 + the number of clips that
do not match it and score at least as high as its best-scored matching clip, so a tie never improves a rank.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adsearch.workspace import Workspace
from benchmarks._recall_data import index_similarity
from retrieval.metrics import mean_rank, median_rank, recall_at_k

__all__ = ["QuerySet", "best_match_ranks", "evaluate_user_queries", "load_query_sets", "missing_queries_message"]


def missing_queries_message() -> str:
    """What to run when no catalog of the workspace has user-style queries."""
    from corpus.synth import USER_QUERIES_NAME

    return (
        f"no user-style queries: no catalog of the workspace has a {USER_QUERIES_NAME} beside its manifest; "
        "`adsearch synth` writes it (run again with the same --clips/--seed/--out on an existing catalog: the "
        "rendered videos and the manifest stay as they are)"
    )


@dataclass
class QuerySet:
    """The user-style queries of one ingested catalog, mapped onto its clip ids."""

    catalog_id: str
    path: Path
    texts: list[str]
    n_attributes: list[int]
    source_clip: list[int | None]  # clip id of the clip each query was written from (None: not in the catalog)
    answers: list[list[int]]  # clip ids of every clip that satisfies each query (those in the catalog)
    clip_split: dict[int, str]  # every ok clip of the catalog -> its split
    n_unmapped: int  # answers naming no clip of the catalog (a failed video, or a file of another catalog)


def _candidates(ws: Workspace, catalog_id: str, source: str | None) -> list[Path]:
    from corpus.synth import USER_QUERIES_NAME

    out = []
    if source:
        manifest = Path(source)
        out += [manifest.parent / USER_QUERIES_NAME]
        if not manifest.is_absolute():
            out.append(ws.root / manifest.parent / USER_QUERIES_NAME)
    out.append(ws.catalogs_dir / catalog_id / USER_QUERIES_NAME)
    return out


def load_query_sets(ws: Workspace) -> list[QuerySet]:
    """The user-style query sets of the workspace's catalogs (not retired) that have a ``user_queries.jsonl``.

    Raises:
        FileNotFoundError: No catalog in the workspace.
        ValueError: A query file cannot be read (names the file and line).
    """
    from corpus.synth import read_user_queries
    from indexer.catalog import open_catalog

    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog at {ws.catalog_path}; run `adsearch ingest MANIFEST` (or `adsearch demo`)")
    out = []
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        catalogs = cat.query("SELECT catalog_id, source FROM catalogs WHERE NOT retired ORDER BY catalog_id")
        for c in catalogs:
            path = next((p for p in _candidates(ws, c["catalog_id"], c["source"]) if p.is_file()), None)
            if path is None:
                continue
            rows = cat.query(
                "SELECT v.uri, c.shot_index, c.clip_id, v.split FROM clips c JOIN videos v USING (video_id) "
                "WHERE v.catalog_id = ? AND v.status = 'ok'",
                [c["catalog_id"]],
            )
            clip_of = {(r["uri"], r["shot_index"]): r["clip_id"] for r in rows}
            queries = read_user_queries(path)
            answers = [[clip_of[m] for m in q.matches if m in clip_of] for q in queries]
            n_unmapped = sum(len(q.matches) for q in queries) - sum(map(len, answers))
            out.append(
                QuerySet(
                    catalog_id=c["catalog_id"],
                    path=path,
                    texts=[q.text for q in queries],
                    n_attributes=[len(q.attributes) for q in queries],
                    source_clip=[clip_of.get(q.source) for q in queries],
                    answers=answers,
                    clip_split={r["clip_id"]: r["split"] for r in rows},
                    n_unmapped=n_unmapped,
                )
            )
    return out


def best_match_ranks(similarity: np.ndarray, matches: np.ndarray) -> np.ndarray:
    """1-based rank at which each query is found: that of its best-scored matching gallery item, tie-safe.

    rank = 1 + the number of non-matching items whose score is >= the best score of a matching item; with one
    match per query this is ``retrieval.metrics.ranks_from_similarity``.

    Args:
        similarity: Scores (Q, G), higher is better.
        matches: bool (Q, G), True where the item satisfies the query; every row has at least one.

    Returns:
        int64 ranks (Q,), each in [1, G].
    """
    sim = np.asarray(similarity, dtype=np.float64)
    mask = np.asarray(matches, dtype=bool)
    if sim.shape != mask.shape or sim.ndim != 2:
        raise ValueError(f"similarity {sim.shape} and matches {mask.shape} must be the same (Q, G) shape")
    if not mask.any(axis=1).all():
        raise ValueError("every query needs at least one matching gallery item")
    if not np.isfinite(sim).all():
        raise ValueError("similarity contains NaN or infinite scores")
    best = np.where(mask, sim, -np.inf).max(axis=1)
    return (1 + ((sim >= best[:, None]) & ~mask).sum(axis=1)).astype(np.int64)


def _metrics(ranks: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {f"R@{k}": recall_at_k(ranks, k) for k in (1, 5, 10)}
    out["mean_R"] = (out["R@1"] + out["R@5"] + out["R@10"]) / 3
    out.update(MdR=median_rank(ranks), MnR=mean_rank(ranks), n=int(ranks.size))
    return out


def _score_gallery(
    qs: QuerySet, chosen: list[int], vectors: np.ndarray, gallery: np.ndarray, loaded: Any, name: str
) -> dict[str, Any] | str:
    """One gallery's row (or why it was skipped) for the chosen queries of ``qs``."""
    from indexer.faiss_index import index_ids

    missing = np.setdiff1d(gallery, index_ids(loaded.index))
    if missing.size:
        return (
            f"{qs.catalog_id}: {missing.size} of the {gallery.size} clips of gallery {name!r} are not in index "
            f"version {loaded.version}; run `adsearch embed` then `adsearch index add`"
        )
    column = {int(c): j for j, c in enumerate(gallery)}
    mask = np.zeros((len(chosen), gallery.size), dtype=bool)
    for i, q in enumerate(chosen):
        mask[i, [column[c] for c in qs.answers[q] if c in column]] = True
    keep = mask.any(axis=1)  # the source clip is in the gallery, so every query keeps at least its own clip
    assert keep.all(), "a query's own clip is always one of its answers"
    sim = index_similarity(loaded.index, vectors, gallery)
    ranks = best_match_ranks(sim, mask)
    n_attrs = np.array([qs.n_attributes[q] for q in chosen])
    by_attributes = {
        str(n): {"R@1": recall_at_k(ranks[n_attrs == n], 1), "R@10": recall_at_k(ranks[n_attrs == n], 10)}
        | {"n": int((n_attrs == n).sum())}
        for n in sorted(set(n_attrs.tolist()))
    }
    return {
        "gallery": name,
        "n_gallery": int(gallery.size),
        **_metrics(ranks),
        "mean_answers": float(mask.sum(axis=1).mean()),
        "single_answer_share": float(100 * (mask.sum(axis=1) == 1).mean()),
        "by_attributes": by_attributes,
        "examples": [
            {"query": qs.texts[q], "answers": int(mask[i].sum()), "rank": int(ranks[i])}
            for i, q in list(enumerate(chosen))[:: max(1, len(chosen) // 5)][:5]
        ],
    }


def evaluate_user_queries(ws: Workspace, net: Any, loaded: Any, *, split: str = "test") -> dict[str, Any]:
    """Score the user-style queries written from clips of ``split`` with the retriever ``net`` through the
    published index ``loaded``, on the split's clips and on the whole catalog.

    Returns:
        ``{"query_split", "catalogs": [{catalog_id, file, n_queries, n_unmapped, sets: [row per gallery]}],
        "notes": [...]}``; a row holds R@1/5/10, mean R, MdR, MnR, n, the gallery size, the mean number of answers
        per query, R@1/R@10 per number of stated attributes and a few example queries with their ranks. What could
        not be scored (no query file, clips not indexed) is a note, not an error.
    """
    from retrieval import encode_queries

    out: dict[str, Any] = {"query_split": split, "catalogs": [], "notes": []}
    sets = load_query_sets(ws)
    if not sets:
        out["notes"].append(missing_queries_message())
        return out
    for qs in sets:
        chosen = [i for i, c in enumerate(qs.source_clip) if c is not None and qs.clip_split.get(c) == split]
        entry: dict[str, Any] = {
            "catalog_id": qs.catalog_id,
            "file": str(qs.path),
            "n_queries": len(chosen),
            "n_unmapped": qs.n_unmapped,
            "sets": [],
        }
        out["catalogs"].append(entry)
        if qs.n_unmapped:
            out["notes"].append(
                f"{qs.catalog_id}: {qs.n_unmapped} answers in {qs.path.name} name no ok clip of the catalog "
                "(failed videos, or a query file of another catalog)"
            )
        if not chosen:
            out["notes"].append(f"{qs.catalog_id}: no user-style query was written from a clip of split {split!r}")
            continue
        vectors = encode_queries(net, [qs.texts[i] for i in chosen])
        by_split: dict[str, list[int]] = defaultdict(list)
        for clip, s in qs.clip_split.items():
            by_split[s].append(clip)
        galleries = {
            split: np.array(sorted(by_split[split]), dtype=np.int64),
            "all": np.array(sorted(qs.clip_split), dtype=np.int64),
        }
        for name, gallery in galleries.items():
            row = _score_gallery(qs, chosen, vectors, gallery, loaded, name)
            if isinstance(row, str):
                out["notes"].append(row)
            else:
                entry["sets"].append(row)
    return out

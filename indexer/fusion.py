"""Fusing the rankings of several search channels into one, explaining each fused hit, and measuring fusion methods.

Pure functions over rankings (clip ids with scores, best first). A ranking comes from one *ranker*: ``visual`` (the
video vectors), or ``<channel>.lexical`` (BM25) / ``<channel>.dense`` (sentence embeddings) of a text channel.

Methods (``FUSION_METHODS``):

- ``"rrf"``, reciprocal-rank fusion (Cormack et al. 2009): ``sum_r w_r / (rrf_k + rank_r(c))`` over the rankers
  whose list holds clip ``c``; scores are ignored, so rankers on different scales combine without calibration.
- ``"score"``, weighted score fusion ("relative score fusion" as in Weaviate): each ranker's scores are min-max
  normalised over its list (best -> 1, last -> 0; a list of equal scores -> 1), then ``sum_r w_r * norm_r(c)``.
- ``"zscore"`` (the default), CombSUM of scores standardised against each ranker's own score distribution for this
  query: ``sum_r w_r * max(0, s_r(c) - b_r) / sd_r``, where ``sd_r`` is the standard deviation of the ranker's top
  ``ZSCORE_WINDOW`` scores and ``b_r`` the last of them. A lexical (BM25) list holds only the clips sharing a query
  word, so it is padded with zeros (the BM25 score of every other clip) up to the window: a rare word matched by
  one clip stands ~10 deviations above the rest, while a dense ranker's best clip rarely exceeds 4-5; a ranker
  whose scores are all alike (no confident match) contributes little. Clips missing from a list contribute 0, and
  the statistics use only the window, so a top ``k <= ZSCORE_WINDOW / 2`` does not depend on ``k``. The default
  weights ``ZSCORE_WEIGHTS`` were chosen on the train and val splits of the ``make demo`` catalog, never on its
  test split (docs/experiments.md).

Weights are keyed by ranker (``"text.lexical"``) or by channel (``"text"``, applied to both of its rankers); a
ranker without a weight gets 1. Fused results are ordered by descending score, equal scores by ascending clip id
(as ``faiss_index.search``), and the sums run over rankers in sorted name order, so the result is a pure function
of the rankings.

``evaluate_fusion`` scores methods and weights on queries whose relevant clips are known, from rankings computed
once per query (``Searcher.rankings``), so comparing methods costs no extra search.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from indexer.channels import CHANNELS, TEXT_CHANNELS, Snippet, channel_of_ranker

_H = TypeVar("_H")

__all__ = [
    "DEFAULT_FUSION",
    "DEFAULT_WEIGHTS",
    "DENSE_MATCH_MIN",
    "FUSION_METHODS",
    "RRF_K",
    "ZSCORE_WEIGHTS",
    "ZSCORE_WINDOW",
    "Fused",
    "Ranking",
    "evaluate_fusion",
    "explain_hits",
    "fuse",
    "fusion_depth",
    "matched_channels",
    "recall_figures",
]

FUSION_METHODS = ("rrf", "score", "zscore")
# Measured with `python -m benchmarks.search` on the make demo catalog (1,500 clips, the shipped synth-v1 retriever,
# brand / offer / speech / user query sets): rrf falls below the best single channel's R@1 on brand, offer and
# speech queries (other channels' weak agreement outvotes one confident channel); min-max score fusion gives every
# ranker's top clip 1.0, so a weak dense match can outrank an exact phrase match. zscore keeps each ranker's
# confidence (docs/experiments.md, "Fusion methods tuned on train and val").
DEFAULT_FUSION = "zscore"
RRF_K = 60  # the constant of Cormack et al.; larger values flatten the rank curve
DEFAULT_WEIGHTS: dict[str, float] = {}  # rrf and score: every ranker 1.0
_MIN_DEPTH = 100  # each ranker contributes at least this many candidates
ZSCORE_WINDOW = _MIN_DEPTH  # the top scores of a ranker that its zscore statistics are taken over
# zscore's default weights: what `python -m benchmarks.fusion_tune --workspace WS` prints for the make demo
# workspace (its objective: deficit to the best single channel + user-style R@10 gain over the picture, on the
# train split's brand / offer / speech queries and the val split's user-style queries; test never tuned on).
ZSCORE_WEIGHTS: dict[str, float] = {
    "description.dense": 1.5,
    "description.lexical": 0.25,
    "speech.dense": 2.0,
    "speech.lexical": 2.0,
    "text.dense": 0.75,
    "text.lexical": 3.0,
    "visual": 1.5,
}
DENSE_MATCH_MIN = 0.3  # a text channel's dense similarity (MiniLM cosine) from which a clip counts as matching


def fusion_depth(k: int) -> int:
    """How many candidates each ranker contributes to a fused top ``k``."""
    return max(_MIN_DEPTH, 2 * int(k))


@dataclass(frozen=True)
class Ranking:
    """One ranker's result list: clip ids best first (equal scores by ascending id) and their scores."""

    ids: np.ndarray  # int64 (N,)
    scores: np.ndarray  # float32/64 (N,), descending

    @classmethod
    def of(cls, ids: Iterable[int], scores: Iterable[float]) -> Ranking:
        """A ranking from unordered (id, score) pairs, sorted by descending score then ascending id; padding
        (ids < 0, as ``faiss_index.search`` returns) is dropped."""
        ids_a = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64).ravel()
        sc_a = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores, dtype=np.float64).ravel()
        assert ids_a.shape == sc_a.shape, (ids_a.shape, sc_a.shape)
        keep = ids_a >= 0
        ids_a, sc_a = ids_a[keep], sc_a[keep]
        order = np.lexsort((ids_a, -sc_a))
        return cls(ids=ids_a[order], scores=sc_a[order])

    def __len__(self) -> int:
        return int(self.ids.size)


@dataclass(frozen=True)
class Fused:
    """One clip of a fused ranking."""

    clip_id: int
    score: float  # fused score
    contributions: dict[str, float] = field(default_factory=dict)  # ranker -> its share of ``score`` (weight > 0)
    ranks: dict[str, int] = field(default_factory=dict)  # ranker -> 1-based rank of the clip in its list
    raw: dict[str, float] = field(default_factory=dict)  # ranker -> the clip's score in its list (BM25, cosine)

    def channel_scores(self) -> dict[str, float]:
        """Contributions summed per channel, in canonical channel order."""
        out: dict[str, float] = {}
        for ranker in sorted(self.contributions):
            ch = channel_of_ranker(ranker)
            out[ch] = out.get(ch, 0.0) + self.contributions[ranker]
        return {c: out[c] for c in CHANNELS if c in out}


def _weight(weights: Mapping[str, float], ranker: str) -> float:
    w = weights.get(ranker, weights.get(channel_of_ranker(ranker), 1.0))
    if not isinstance(w, int | float) or math.isnan(w) or w < 0:
        raise ValueError(f"fusion weight of {ranker} must be a number >= 0, got {w!r}")
    return float(w)


def _normalised(scores: np.ndarray) -> np.ndarray:
    s = scores.astype(np.float64)
    if s.size == 0:
        return s
    hi, lo = float(s[0]), float(s[-1])  # descending
    if not hi > lo:
        return np.ones_like(s)
    return (s - lo) / (hi - lo)


def _standardised(ranker: str, scores: np.ndarray, window: int = ZSCORE_WINDOW) -> np.ndarray:
    """``max(0, s - b) / sd`` over a ranker's scores (descending): ``sd`` and ``b`` (the last score) of its top
    ``window`` scores, a lexical list padded with zeros to ``window``; all zeros when those scores are all equal."""
    s = scores.astype(np.float64)
    top = s[:window]
    if ranker.endswith(".lexical") and top.size < window:
        top = np.concatenate([top, np.zeros(window - top.size)])
    if top.size == 0:
        return s
    sd = float(top.std())
    if not sd > 0:
        return np.zeros_like(s)
    return np.maximum(0.0, (s - float(top[-1])) / sd)


def fuse(
    rankings: Mapping[str, Ranking],
    *,
    method: str = DEFAULT_FUSION,
    weights: Mapping[str, float] | None = None,
    rrf_k: float = RRF_K,
    limit: int | None = None,
) -> list[Fused]:
    """Every clip of the rankings with its fused score, best first (equal scores by ascending clip id).

    Computed with numpy over all the rankings' clips (each clip's sum still adds the rankers' parts in sorted ranker
    order, so the scores are the same floats as a loop's); ``Fused`` records are made for the first ``limit`` clips
    only (None: all), the part a search shows.

    Args:
        rankings: Ranker name -> its ranking (see the module docstring for names).
        method: ``"rrf"``, ``"score"`` or ``"zscore"`` (see the module docstring).
        weights: Per ranker or per channel (default: ``ZSCORE_WEIGHTS`` for zscore, else ``DEFAULT_WEIGHTS``;
            missing ones 1.0); weight 0 drops a ranker.
        rrf_k: The RRF constant.
        limit: Return only the best ``limit`` clips (the head of the full list, unchanged).

    Raises:
        ValueError: an unknown method or a negative / non-numeric weight.
    """
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion method {method!r}; methods: {', '.join(FUSION_METHODS)}")
    if weights is None:
        weights = ZSCORE_WEIGHTS if method == "zscore" else DEFAULT_WEIGHTS
    used: list[tuple[str, Ranking, np.ndarray]] = []
    for ranker in sorted(rankings):
        r = rankings[ranker]
        w = _weight(weights, ranker)
        if w == 0.0:
            continue  # a ranker switched off: it neither scores nor explains
        if method == "rrf":
            parts = w / (rrf_k + np.arange(1, len(r) + 1, dtype=np.float64))
        elif method == "zscore":
            parts = w * _standardised(ranker, r.scores)
        else:
            parts = w * _normalised(r.scores)
        used.append((ranker, r, np.asarray(parts, np.float64)))
    if not used:
        return []
    clips, where = np.unique(np.concatenate([r.ids for _, r, _ in used]), return_inverse=True)
    total = np.zeros(clips.size, np.float64)
    slots, start = [], 0
    for _, r, parts in used:  # ranker by ranker in sorted order: each clip's sum adds its parts in that order
        slot = where[start : start + len(r)]
        start += len(r)
        total[slot] += parts  # a clip occurs once per ranking: no repeated index within one add
        slots.append(slot)
    order = np.lexsort((clips, -total))
    if limit is not None:
        order = order[: max(0, int(limit))]
    if order.size == 0:
        return []
    head = np.full(clips.size, -1, np.int64)
    head[order] = np.arange(order.size)
    contributions: list[dict[str, float]] = [{} for _ in range(order.size)]
    ranks: list[dict[str, int]] = [{} for _ in range(order.size)]
    raw: list[dict[str, float]] = [{} for _ in range(order.size)]
    for (ranker, r, parts), slot in zip(used, slots, strict=True):
        pos = head[slot]
        for i in np.flatnonzero(pos >= 0).tolist():
            j = int(pos[i])
            ranks[j][ranker] = i + 1
            raw[j][ranker] = float(r.scores[i])
            contributions[j][ranker] = float(parts[i])
    return [
        Fused(int(c), float(t), contributions[j], ranks[j], raw[j])
        for j, (c, t) in enumerate(zip(clips[order].tolist(), total[order].tolist(), strict=True))
    ]


def matched_channels(f: Fused, k: int) -> tuple[str, ...]:
    """The channels in which clip ``f`` matched, strongest contribution first (then canonical order): a lexical
    ranker matched when its list holds the clip (a query word occurs in the clip's text); a text channel's dense
    ranker when the clip is among its top ``k`` with a similarity of at least ``DENSE_MATCH_MIN``; the visual
    ranker when the clip is among its top ``k``. (Dense rankers list every clip, so rank alone says little.)"""

    def matched(ranker: str, rank: int) -> bool:
        if ranker.endswith(".lexical"):
            return True
        if ranker.endswith(".dense"):
            return rank <= k and f.raw.get(ranker, 0.0) >= DENSE_MATCH_MIN
        return rank <= k

    hit = {channel_of_ranker(r) for r, rank in f.ranks.items() if matched(r, rank)}
    per_channel = f.channel_scores()
    return tuple(sorted(hit, key=lambda c: (-per_channel.get(c, 0.0), CHANNELS.index(c))))


def explain_hits(
    hits: Sequence[_H],
    fused: Sequence[Fused],
    k: int,
    snippets: Callable[[list[tuple[int, str]]], Mapping[tuple[int, str], Snippet]] | None = None,
) -> list[_H]:
    """Copies of ``hits`` (``search.Hit``) with the channels that matched, their shares of the score and the
    snippets of the text channels that matched (``snippets``: (clip id, channel) pairs -> their snippets; the best
    snippet is the one of the strongest matching text channel)."""
    by_id = {f.clip_id: f for f in fused}
    matched = {h.clip_id: matched_channels(by_id[h.clip_id], k) for h in hits}  # type: ignore[attr-defined]
    wanted = [(cid, ch) for cid, chs in matched.items() for ch in chs if ch in TEXT_CHANNELS]
    found = snippets(wanted) if snippets is not None and wanted else {}
    out = []
    for h in hits:
        cid: Any = h.clip_id  # type: ignore[attr-defined]
        own = {ch: found[(cid, ch)] for ch in matched[cid] if (cid, ch) in found}
        best = next((own[ch] for ch in matched[cid] if ch in own), None)
        out.append(
            dataclasses.replace(
                h, channels=matched[cid], channel_scores=by_id[cid].channel_scores(), snippet=best, snippets=own
            )
        )
    return out


def recall_figures(
    ranked: Sequence[Sequence[int]], relevant: Sequence[Collection[int]], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """R@k (percent of queries with a relevant clip in the top k), MdR (median 1-based rank of the first relevant
    clip; ``inf`` for a query whose list holds none) and the number of queries.

    Raises:
        ValueError: lists of different lengths or no queries.
    """
    if len(ranked) != len(relevant) or not ranked:
        raise ValueError(f"{len(ranked)} result lists for {len(relevant)} relevance sets (need equal, > 0)")
    firsts = []
    for ids, rel in zip(ranked, relevant, strict=True):
        pos = next((i + 1 for i, c in enumerate(ids) if c in rel), math.inf)
        firsts.append(pos)
    out = {f"R@{k}": 100.0 * sum(p <= k for p in firsts) / len(firsts) for k in ks}
    out["MdR"] = float(np.median(np.array(firsts, dtype=np.float64)))
    out["queries"] = float(len(firsts))
    return out


def evaluate_fusion(
    rankings: Sequence[Mapping[str, Ranking]],
    relevant: Sequence[Collection[int]],
    *,
    configs: Mapping[str, Mapping[str, object]] | None = None,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, dict[str, float]]:
    """Recall figures of each single ranker, each channel alone (its rankers fused by RRF) and each fusion config.

    Args:
        rankings: Per query, ranker -> ranking (``Searcher.rankings``).
        relevant: Per query, the clip ids that satisfy it.
        configs: Name -> keyword arguments of ``fuse`` (method, weights, rrf_k); default: ``rrf`` and ``score``
            with equal weights.
        ks: Cut-offs of R@k.

    Returns:
        Name -> ``recall_figures``; names: ``ranker:<ranker>``, ``channel:<channel>``, ``fused:<config>``.
    """
    configs = configs if configs is not None else {m: {"method": m} for m in FUSION_METHODS}
    out: dict[str, dict[str, float]] = {}
    rankers = sorted({r for q in rankings for r in q})
    for r in rankers:
        out[f"ranker:{r}"] = recall_figures([q[r].ids.tolist() if r in q else [] for q in rankings], relevant, ks)
    for ch in [c for c in CHANNELS if any(channel_of_ranker(r) == c for r in rankers)]:
        own = [{r: v for r, v in q.items() if channel_of_ranker(r) == ch} for q in rankings]
        lists = [[f.clip_id for f in fuse(q)] for q in own]
        out[f"channel:{ch}"] = recall_figures(lists, relevant, ks)
    for name, kwargs in configs.items():
        lists = [[f.clip_id for f in fuse(q, **kwargs)] for q in rankings]  # type: ignore[arg-type]
        out[f"fused:{name}"] = recall_figures(lists, relevant, ks)
    return out

"""Fusing the rankings of several search channels into one, explaining each fused hit, and measuring fusion methods.

Pure functions over rankings (clip ids with scores, best first). A ranking comes from one *ranker*: ``visual`` (the
video vectors), or ``<channel>.lexical`` (BM25) / ``<channel>.dense`` (sentence embeddings) of a text channel, or
``<channel>.<kind>`` (the sentence embeddings of one text kind of the channel: ``channels.PART_RANKER_KINDS``).

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

- ``"learned"`` (the default), zscore with weights chosen per query: ``w_r(q) = softplus(a_r . x(q) + b_r)``, where
  ``x(q)`` is the query's L2-normalised MiniLM sentence embedding (the vector the text channels' dense rankers search
  with, so it costs no extra encoding) and how far each ranker's best clip stands out for this query
  (``confidence_features``). A query that reads like a voice-over ("narrator says ...") leans on the speech channel,
  one that names a price on the on-screen text, one that lists attributes on the picture and the descriptions; a
  ranker whose best clip stands far above its others is never trusted less (the fit keeps each ranker's
  coefficients on its own confidence >= 0, so a one-word brand that one clip prints is not outvoted by chance
  agreement of the dense rankers in a small catalog). The shipped ``LearnedWeights``
  (``LEARNED_WEIGHTS_PATH``) were fit by ``python -m benchmarks.fusion_tune --learn`` on the train and val splits of
  the ``make demo`` catalog (never its test split, nor a query whose text the test split asks too; each query set
  weighing alike; the regularisation chosen by cross-validation on those queries);
  with all ``a_r = 0`` it is zscore with weights ``softplus(b_r)``. It needs the query vector (``fuse(...,
  query_vector=)``); ``Searcher.search`` passes it.

Weights are keyed by ranker (``"text.lexical"``) or by channel (``"text"``, applied to both of its rankers); a
ranker without a weight gets 1. Fused results are ordered by descending score, equal scores by ascending clip id
(as ``faiss_index.search``), and the sums run over rankers in sorted name order, so the result is a pure function
of the rankings.

``evaluate_fusion`` scores methods and weights on queries whose relevant clips are known, from rankings computed
once per query (``Searcher.rankings``), so comparing methods costs no extra search.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from indexer.channels import CHANNELS, TEXT_CHANNELS, VISUAL, Snippet, channel_of_ranker

_H = TypeVar("_H")

__all__ = [
    "CONFIDENCE_SCALE",
    "DEFAULT_FUSION",
    "DEFAULT_WEIGHTS",
    "DENSE_MATCH_MIN",
    "FUSION_METHODS",
    "LEARNED_WEIGHTS_PATH",
    "RRF_K",
    "ZSCORE_WEIGHTS",
    "ZSCORE_WINDOW",
    "Fused",
    "LearnedWeights",
    "Ranking",
    "confidence_features",
    "evaluate_fusion",
    "explain_hits",
    "fuse",
    "fusion_depth",
    "matched_channels",
    "recall_figures",
    "shipped_learned_weights",
]

FUSION_METHODS = ("learned", "rrf", "score", "zscore")
# Measured with `python -m benchmarks.search` on the make demo catalog (1,500 clips, the shipped synth-v1 retriever,
# brand / offer / speech / user query sets): rrf falls below the best single channel's R@1 on brand, offer and
# speech queries (other channels' weak agreement outvotes one confident channel); min-max score fusion gives every
# ranker's top clip 1.0, so a weak dense match can outrank an exact phrase match. zscore keeps each ranker's
# confidence (docs/experiments.md, "Fusion methods tuned on train and val").
# The learned per-query weights beat every fixed weighting on the test split of that catalog and of a second
# workspace with other models (docs/experiments.md, "Fusion weights chosen per query").
DEFAULT_FUSION = "learned"
LEARNED_WEIGHTS_PATH = Path(__file__).with_name("fusion_learned.json")
RRF_K = 60  # the constant of Cormack et al.; larger values flatten the rank curve
DEFAULT_WEIGHTS: dict[str, float] = {}  # rrf and score: every ranker 1.0
_MIN_DEPTH = 100  # each ranker contributes at least this many candidates
ZSCORE_WINDOW = _MIN_DEPTH  # the top scores of a ranker that its zscore statistics are taken over
# zscore's default weights: what `python -m benchmarks.fusion_tune --workspace WS` prints for the make demo
# workspace (its objective: deficit to the best single channel + user-style R@10 gain over the picture, on the
# train and val splits' queries less those the test split asks too; test never tuned on).
ZSCORE_WEIGHTS: dict[str, float] = {
    "description.dense": 0.25,
    "description.fine": 0.25,
    "description.lexical": 0.75,
    "description.tags": 1.0,
    "speech.dense": 1.0,
    "speech.lexical": 1.0,
    "text.dense": 0.5,
    "text.lexical": 3.0,
    "visual": 0.5,
}
DENSE_MATCH_MIN = 0.3  # a text channel's dense similarity (MiniLM cosine) from which a clip counts as matching


@dataclass(frozen=True)
class LearnedWeights:
    """Per-query zscore weights: ``w_r(q) = softplus(a_r . x(q) + b_r)``, where ``x(q)`` is the query's sentence
    embedding ``e(q)`` followed, when ``confidence`` is set, by ``confidence_features`` of its rankings (how far each
    ranker's best clip stands out, in zscore units).

    Attributes:
        rankers: Ranker names, the rows of ``a`` and ``b``.
        a: float64 (len(rankers), dim + 2 * len(rankers) with confidence, else dim).
        b: float64 (len(rankers),).
        encoder: The text encoder whose L2-normalised vectors ``e(q)`` are (``indexer.text_index.TextEncoder``'s
            ``encoder_id``); vectors of another encoder mean nothing to it.
        confidence: Whether ``x(q)`` ends with the rankings' confidence features.
        info: How it was fit (command, workspace, rows, regularisation, figures).
    """

    rankers: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    encoder: str
    confidence: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        extra = 2 * len(self.rankers) if self.confidence else 0
        if (
            self.a.ndim != 2
            or self.a.shape[0] != len(self.rankers)
            or self.a.shape[1] <= extra
            or self.b.shape != (len(self.rankers),)
        ):
            raise ValueError(f"learned fusion weights: a {self.a.shape} and b {self.b.shape} for {len(self.rankers)} "
                             f"rankers{' with confidence features' if self.confidence else ''}")  # fmt: skip

    @property
    def dim(self) -> int:
        """The query embedding's dimension it takes."""
        return int(self.a.shape[1]) - (2 * len(self.rankers) if self.confidence else 0)

    def weights(self, query_vector: np.ndarray, confidence: np.ndarray | None = None) -> dict[str, float]:
        """Ranker -> weight for one query's vector ((dim,) or (1, dim)) and, when the weights use them, its
        rankings' ``confidence_features(..., self.rankers)``.

        Raises:
            ValueError: a vector of another dimension, or not finite; confidence features missing or misshapen.
        """
        v = np.asarray(query_vector, dtype=np.float64).reshape(-1)
        if v.shape != (self.dim,) or not np.isfinite(v).all():
            raise ValueError(f"learned fusion needs a finite query vector of dimension {self.dim}, got {v.shape}")
        if self.confidence:
            c = None if confidence is None else np.asarray(confidence, dtype=np.float64).reshape(-1)
            if c is None or c.shape != (2 * len(self.rankers),) or not np.isfinite(c).all():
                raise ValueError(f"these learned fusion weights need the rankings' {2 * len(self.rankers)} confidence "
                                 "features (confidence_features)")  # fmt: skip
            v = np.concatenate([v, c])
        w = np.logaddexp(0.0, self.a @ v + self.b)  # softplus: every weight > 0
        return dict(zip(self.rankers, w.tolist(), strict=True))

    def to_json(self) -> str:
        """The JSON text ``from_json`` reads (float32 precision: ~90 KB for 9 rankers x (384 + 18), plus ``info``)."""
        return json.dumps(
            {
                "format": "adsearch-learned-fusion",
                "version": 1,
                "encoder": self.encoder,
                "rankers": list(self.rankers),
                "confidence": self.confidence,
                "b": [float(np.float32(x)) for x in self.b],
                "a": [[float(np.float32(x)) for x in row] for row in self.a],
                "info": dict(self.info),
            },
            indent=None,
        )

    @classmethod
    def from_json(cls, text: str) -> LearnedWeights:
        """Parse ``to_json``'s text.

        Raises:
            ValueError: not such a file, or inconsistent shapes.
        """
        try:
            d = json.loads(text)
            if not isinstance(d, dict) or d.get("format") != "adsearch-learned-fusion":
                raise ValueError("not a learned fusion weights file: no adsearch-learned-fusion format field")
            return cls(
                rankers=tuple(d["rankers"]),
                a=np.asarray(d["a"], dtype=np.float64),
                b=np.asarray(d["b"], dtype=np.float64),
                encoder=str(d["encoder"]),
                confidence=bool(d.get("confidence", False)),
                info=d.get("info", {}),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"not a learned fusion weights file: {e!r}") from None

    @classmethod
    def load(cls, path: str | Path) -> LearnedWeights:
        """Read a file written with ``save``."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def save(self, path: str | Path) -> Path:
        """Write ``to_json`` to ``path`` (replaced whole: a reader never sees half a file)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json() + "\n", encoding="utf-8")
        tmp.replace(path)
        return path


CONFIDENCE_SCALE = 10.0  # zscore units per feature unit: a confident match stands ~5-15 deviations out


def confidence_features(standardised: Mapping[str, np.ndarray], rankers: Sequence[str]) -> np.ndarray:
    """(2 * len(rankers),) features of a query's rankings for ``LearnedWeights``: per ranker in ``rankers`` order,
    its best standardised score (``_standardised``), then per ranker that score's lead over its second best (the
    second best of a one-clip list is 0), both divided by ``CONFIDENCE_SCALE``; 0 for a ranker absent or empty."""
    top = np.zeros(len(rankers))
    lead = np.zeros(len(rankers))
    for i, r in enumerate(rankers):
        z = standardised.get(r)
        if z is None or len(z) == 0:
            continue
        two = np.sort(np.asarray(z, np.float64))[::-1][:2]
        top[i] = two[0]
        lead[i] = two[0] - (two[1] if two.size > 1 else 0.0)
    return np.concatenate([top, lead]) / CONFIDENCE_SCALE


@functools.cache
def shipped_learned_weights() -> LearnedWeights:
    """The ``LearnedWeights`` shipped with the package (``LEARNED_WEIGHTS_PATH``), read once."""
    return LearnedWeights.load(LEARNED_WEIGHTS_PATH)


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
    query_vector: np.ndarray | None = None,
    learned: LearnedWeights | None = None,
) -> list[Fused]:
    """Every clip of the rankings with its fused score, best first (equal scores by ascending clip id).

    Computed with numpy over all the rankings' clips (each clip's sum still adds the rankers' parts in sorted ranker
    order, so the scores are the same floats as a loop's); ``Fused`` records are made for the first ``limit`` clips
    only (None: all), the part a search shows.

    Args:
        rankings: Ranker name -> its ranking (see the module docstring for names).
        method: ``"learned"``, ``"rrf"``, ``"score"`` or ``"zscore"`` (see the module docstring).
        weights: Per ranker or per channel (default: for learned, ``learned``'s weights for ``query_vector``;
            ``ZSCORE_WEIGHTS`` for zscore, else ``DEFAULT_WEIGHTS``; missing ones 1.0); weight 0 drops a ranker.
            Given weights override learned ones (learned is then zscore with those weights).
        rrf_k: The RRF constant.
        limit: Return only the best ``limit`` clips (the head of the full list, unchanged).
        query_vector: The query's sentence embedding (learned only).
        learned: The learned weights (default: ``shipped_learned_weights()``).

    Raises:
        ValueError: an unknown method, a negative / non-numeric weight, or learned fusion without weights or a
            query vector of the learned weights' dimension.
    """
    if method not in FUSION_METHODS:
        raise ValueError(f"unknown fusion method {method!r}; methods: {', '.join(FUSION_METHODS)}")
    standardised: dict[str, np.ndarray] = {}
    if method == "learned":
        if weights is None:
            if query_vector is None:
                raise ValueError("learned fusion needs the query's vector (query_vector=) or explicit weights")
            model = learned or shipped_learned_weights()
            conf = None
            if model.confidence:  # the standardised scores are kept for the sums below
                standardised = {r: _standardised(r, v.scores) for r, v in rankings.items()}
                conf = confidence_features(standardised, model.rankers)
            weights = model.weights(query_vector, conf)
        method = "zscore"
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
            z = standardised.get(ranker)
            parts = w * (z if z is not None else _standardised(ranker, r.scores))
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
    ranker when the clip is among its top ``k``. (Dense rankers list every clip, so rank alone says little; a text
    kind's own dense ranker, such as ``description.tags``, counts as a dense ranker.)"""

    def matched(ranker: str, rank: int) -> bool:
        if ranker.endswith(".lexical"):
            return True
        if ranker == VISUAL:
            return rank <= k
        return rank <= k and f.raw.get(ranker, 0.0) >= DENSE_MATCH_MIN

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
    query_vectors: Sequence[np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """Recall figures of each single ranker, each channel alone (its rankers fused by the default method, zscore
    without ``query_vectors``) and each fusion config.

    Args:
        rankings: Per query, ranker -> ranking (``Searcher.rankings``).
        relevant: Per query, the clip ids that satisfy it.
        configs: Name -> keyword arguments of ``fuse`` (method, weights, rrf_k); default: every method with its
            default weights (learned only with ``query_vectors``).
        ks: Cut-offs of R@k.
        query_vectors: Per query, its sentence embedding (``Searcher.query_vector``), passed to every ``fuse``.

    Returns:
        Name -> ``recall_figures``; names: ``ranker:<ranker>``, ``channel:<channel>``, ``fused:<config>``.
    """
    if configs is None:
        configs = {m: {"method": m} for m in FUSION_METHODS if m != "learned" or query_vectors is not None}
    if query_vectors is not None and len(query_vectors) != len(rankings):
        raise ValueError(f"{len(query_vectors)} query vectors for {len(rankings)} queries")
    vecs: Sequence[np.ndarray | None] = query_vectors if query_vectors is not None else [None] * len(rankings)
    out: dict[str, dict[str, float]] = {}
    rankers = sorted({r for q in rankings for r in q})
    for r in rankers:
        out[f"ranker:{r}"] = recall_figures([q[r].ids.tolist() if r in q else [] for q in rankings], relevant, ks)
    for ch in [c for c in CHANNELS if any(channel_of_ranker(r) == c for r in rankers)]:
        own = [{r: v for r, v in q.items() if channel_of_ranker(r) == ch} for q in rankings]
        method = DEFAULT_FUSION if query_vectors is not None else "zscore"
        lists = [[f.clip_id for f in fuse(q, method=method, query_vector=v)] for q, v in zip(own, vecs, strict=True)]
        out[f"channel:{ch}"] = recall_figures(lists, relevant, ks)
    for name, kwargs in configs.items():
        lists = [
            [f.clip_id for f in fuse(q, query_vector=v, **kwargs)]  # type: ignore[arg-type]
            for q, v in zip(rankings, vecs, strict=True)
        ]
        out[f"fused:{name}"] = recall_figures(lists, relevant, ks)
    return out

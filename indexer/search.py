"""The search API: text (or vectors) -> FAISS top-k restricted by catalog filters -> hits with clip metadata.

Filters run as parameterised DuckDB queries over ``videos`` / ``catalogs`` and reach FAISS as an ID selector
(``faiss_index.search(allowed_ids=...)``), so every hit matches and ``k`` hits come back whenever ``k`` matching
clips are indexed. Clips of retired catalogs never appear (they stay in the index until the next ``add`` removes
them, and are filtered out meanwhile). The index is a ``versions.LiveIndex``: a newly published version is picked
up without a restart, and searches in flight finish on the old one.

Filters and hit metadata are read from an in-memory copy of the catalog (``indexer.catalog_snapshot``), taken
again when the file changes, so a long write (ingest, captioning) never makes search fail; a retire is picked up
within ``check_interval_s`` of its write.

Every size a caller controls is bounded (``MAX_K`` hits, ``MAX_BATCH`` queries per call, ``MAX_FILTER_VALUES`` values
of at most ``MAX_FILTER_CHARS`` characters per filter field): a larger one, a filter value that is not text, or a
query that is not valid Unicode text (a lone surrogate, e.g. a byte that was not UTF-8 on a command line) raises
``QueryError`` with the limit in its message.

Queries: empty or whitespace-only queries and queries over ``MAX_QUERY_CHARS`` characters raise ``QueryError``;
below that limit the text tower truncates at its own token limit (the tiny retriever: 64 tokens).
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from indexer.catalog_snapshot import CatalogSnapshot
from indexer.channels import (
    CHANNELS,
    DEFAULT_K,
    DESCRIPTION,
    TEXT_CHANNELS,
    VISUAL,
    ChannelError,
    Snippet,
    parse_channels,
)
from indexer.fusion import DEFAULT_FUSION, Ranking, explain_hits, fuse, fusion_depth, shipped_learned_weights
from indexer.versions import LiveIndex

if TYPE_CHECKING:
    from indexer.text_index import TextChannels

__all__ = [
    "CHANNELS",
    "FILTER_FIELDS",
    "MAX_BATCH",
    "MAX_FILTER_CHARS",
    "MAX_FILTER_VALUES",
    "MAX_K",
    "MAX_QUERY_CHARS",
    "Filters",
    "Hit",
    "QueryError",
    "Searcher",
    "Snippet",
    "check_k",
    "check_query",
]

_log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 2000  # longer text is not a search query (a pasted document); the tokenizer truncates earlier
MAX_K = 1000  # hits per query: a result page, not a catalog export (k-sized arrays are allocated per query)
MAX_DEPTH = 10 * MAX_K  # candidates per ranker asked of rankings()
MAX_BATCH = 1000  # queries (or query vectors) per search_batch / search_vectors call
MAX_FILTER_VALUES = 1000  # values of one filter field (each one a SQL parameter)
MAX_FILTER_CHARS = 200  # characters of one filter value (manifest labels are at most 200: corpus.manifest)

# filter field -> SQL column (videos v)
_COLUMNS = {
    "industry": "v.industry",
    "sub_industry": "v.sub_industry",
    "product": "v.product",
    "game": "v.game",
    "catalog": "v.catalog_id",
    "split": "v.split",
}
FILTER_FIELDS = tuple(_COLUMNS)
_LIVE = "v.catalog_id NOT IN (SELECT catalog_id FROM catalogs WHERE retired)"  # the copy holds ok videos only


class QueryError(ValueError):
    """A query that cannot be searched: empty, whitespace only, too long, not valid text, a size over its limit, or
    an unknown filter field or a filter value that is not text."""


def _shown(value: Any) -> str:
    """``repr(value)`` short enough for an error message."""
    r = repr(value)
    return r if len(r) <= 60 else r[:55] + "..." + r[-2:]


def _check_size(value: Any, name: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= value <= limit:
        raise QueryError(f"{name} must be an integer from 1 to {limit:,}, got {_shown(value)}")
    return int(value)


def check_k(k: Any) -> int:
    """``k`` as an int after checking ``1 <= k <= MAX_K``.

    Raises:
        QueryError: not an integer (bools and floats included), or out of range; the message gives the range.
    """
    return _check_size(k, "k", MAX_K)


def _filter_values(name: str, value: Any) -> list[str]:
    """A filter field's value(s) as a list of text, or QueryError saying what is wrong with them."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | tuple):
        raise QueryError(f"filter {name}: expected text or a list of texts, got {type(value).__name__}")
    if len(values) > MAX_FILTER_VALUES:
        raise QueryError(f"filter {name}: {len(values):,} values; at most {MAX_FILTER_VALUES:,} values per field")
    for v in values:
        if not isinstance(v, str):
            raise QueryError(f"filter {name}: expected text values, got {type(v).__name__} {_shown(v)}")
        if len(v) > MAX_FILTER_CHARS:
            raise QueryError(f"filter {name}: a value of {len(v):,} characters; the limit is {MAX_FILTER_CHARS}")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise QueryError(f"filter {name}: {_shown(v)} is not valid text (a lone surrogate at {e.start})") from None
    return list(values)


@dataclass(frozen=True)
class Filters:
    """Metadata filters: each field None (no filter), a value, or a sequence of values.

    AND across fields, OR within a field: ``Filters(industry="games", game=["rpg", "moba"])``. An empty list is
    no filter.

    Raises:
        QueryError: a value that is not text or a list (tuple) of texts, more than ``MAX_FILTER_VALUES`` values, a
            value longer than ``MAX_FILTER_CHARS`` or not valid Unicode.
    """

    industry: str | Sequence[str] | None = None
    sub_industry: str | Sequence[str] | None = None
    product: str | Sequence[str] | None = None
    game: str | Sequence[str] | None = None
    catalog: str | Sequence[str] | None = None
    split: str | Sequence[str] | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                _filter_values(f.name, value)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Filters:
        """Filters from a mapping (e.g. form fields); None and empty values mean no filter.

        Raises:
            QueryError: a key that is not a filter field, or a value as for :class:`Filters`.
        """
        if not isinstance(values, Mapping):
            raise QueryError(f"filters are a mapping of field -> value(s), got {type(values).__name__}")
        unknown = sorted(map(str, set(values) - set(FILTER_FIELDS)))
        if unknown:
            raise QueryError(f"unknown filter field(s) {unknown}; valid: {', '.join(FILTER_FIELDS)}")
        empty = [k for k, v in values.items() if v is None or (isinstance(v, str | list | tuple) and not v)]
        return cls(**{k: v for k, v in values.items() if k not in empty})

    def active(self) -> dict[str, list[str]]:
        """Fields that filter, as lists of values."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            values = _filter_values(f.name, value)
            if values:  # an empty list filters nothing (SQL cannot say IN ())
                out[f.name] = values
        return out


@dataclass(frozen=True)
class Hit:
    """One search result."""

    rank: int  # 1-based
    clip_id: int
    video_id: int
    catalog_id: str
    path: str  # local video file
    uri: str | None  # as the manifest wrote it
    start_s: float
    end_s: float
    score: float  # cosine similarity
    thumb: str | None  # absolute path of the clip's thumbnail jpg
    texts: dict[str, str]  # among fine, general, asr, reference ('general': a generated caption before the manifest's)
    labels: dict[str, str | None]  # industry, sub_industry, product, game, split
    # multi-channel searches (indexer.fusion): ``score`` is then the fused score
    channels: tuple[str, ...] = ()  # channels that matched, strongest first (visual, description, speech, text)
    channel_scores: dict[str, float] = field(default_factory=dict)  # channel -> its share of the fused score
    snippet: Snippet | None = None  # the best-matching sentence / phrase / line of the strongest text channel
    snippets: dict[str, Snippet] = field(default_factory=dict)  # text channel -> its snippet


# Clip rows (metadata + texts) of recent hits, per catalog copy: a hit's row is read from DuckDB once, not on every
# search that returns it (the IN-list queries cost more than the rest of a search at 1,500 clips).
_ROW_CACHE_CLIPS = 50_000


class _RowCache:
    """Bounded LRU of ``clip_id -> (metadata row, texts)`` for one catalog copy; emptied when the copy changes."""

    def __init__(self, size: int = _ROW_CACHE_CLIPS) -> None:
        self._size = size
        self._rows: OrderedDict[int, tuple[dict[str, Any], dict[str, str]]] = OrderedDict()
        self._generation = -1
        self._lock = threading.Lock()
        self.fill_lock = threading.Lock()  # one thread reads a new copy's rows in bulk (Searcher._hits)

    @property
    def generation(self) -> int:
        """The catalog copy the cached rows were read from (-1: none yet)."""
        return self._generation

    @property
    def size(self) -> int:
        """The most rows it holds."""
        return self._size

    def get(self, generation: int, ids: Sequence[int]) -> dict[int, tuple[dict[str, Any], dict[str, str]]]:
        with self._lock:
            if generation != self._generation:
                return {}
            out = {}
            for i in ids:
                row = self._rows.get(i)
                if row is not None:
                    self._rows.move_to_end(i)
                    out[i] = row
            return out

    def put(self, generation: int, rows: Mapping[int, tuple[dict[str, Any], dict[str, str]]]) -> None:
        with self._lock:
            if generation < self._generation:
                return  # read from an older copy than the cache holds
            if generation != self._generation:
                self._rows.clear()
                self._generation = generation
            self._rows.update(rows)
            while len(self._rows) > self._size:
                self._rows.popitem(last=False)


def _dicts(cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    result = cur.execute(sql, list(params))
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def check_query(query: str) -> str:
    """The query with control characters made spaces, stripped of surrounding whitespace.

    Raises:
        QueryError: not a string, not valid Unicode (a lone surrogate: a byte that is not UTF-8 reaches Python from
            a command line as one), empty or whitespace only, or longer than ``MAX_QUERY_CHARS``.
    """
    if not isinstance(query, str):
        raise QueryError(f"a query is a string, got {type(query).__name__}")
    text = query.strip()
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query has {len(text)} characters; the limit is {MAX_QUERY_CHARS}: shorten it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        c = ord(text[e.start])
        byte = f" (the byte 0x{c - 0xDC00:02x}, which is not UTF-8)" if 0xDC80 <= c <= 0xDCFF else ""
        raise QueryError(
            f"the query is not valid text: character {e.start} is a lone surrogate U+{c:04X}{byte}; "
            "type it again as UTF-8 text"
        ) from None
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text).strip()
    if not text:
        raise QueryError("the query is empty; type what the clip shows, e.g. 'a woman in a red dress dancing'")
    return text


class Searcher:
    """Text-to-clip search over the published index of one model, with catalog filters.

    Args:
        catalog_path: ``catalog.duckdb``.
        indexes_dir: The workspace's ``indexes/``.
        model_id: The retriever whose vectors the index holds (checked against the index's ``meta.json``).
        encode_text: Texts -> float32 (N, D) query vectors of that model.
        workspace_root: Folder the catalog's relative thumbnail paths start from; default: the catalog's folder.
        check_interval_s: Minimum seconds between two checks for a newly published version.
        text_channels: The text channels' indexes (``indexer.text_index.TextChannels``); None: visual only.
        copy_catalog: Search an in-memory copy of the catalog (the default, for long-running searchers); False: read
            the file through views (``indexer.catalog_snapshot``), for a process that searches once and exits.

    Raises:
        FileNotFoundError: no published index for the model, or no catalog.
        ModelMismatchError: the index holds another model's vectors.
    """

    def __init__(
        self,
        catalog_path: str | Path,
        indexes_dir: str | Path,
        *,
        model_id: str,
        encode_text: Callable[[list[str]], np.ndarray],
        workspace_root: str | Path | None = None,
        check_interval_s: float = 0.5,
        text_channels: TextChannels | None = None,
        copy_catalog: bool = True,
    ) -> None:
        self._snapshot = CatalogSnapshot(catalog_path, check_interval_s=check_interval_s, copy=copy_catalog)
        self._text = text_channels
        self._warned_encoder = False  # learned fusion weights of another text encoder: said once
        self._root = Path(workspace_root) if workspace_root is not None else Path(catalog_path).parent
        self._encode = encode_text
        self.model_id = model_id
        self._live = LiveIndex(indexes_dir, model_id, check_interval_s=check_interval_s)
        self._rows = _RowCache()
        self._thumbs: dict[str, str] = {}  # a clip's thumbnail path as stored -> its absolute path
        self._any_retired: tuple[int, bool] = (-1, False)  # (catalog copy generation, whether a catalog is retired)

    @property
    def version(self) -> str:
        """The published index version searches use now."""
        self._live.refresh()
        return self._live.version

    # --- catalog access ----------------------------------------------------------------------------------------
    def _allowed_ids(
        self, cur: duckdb.DuckDBPyConnection, filters: Filters | None, generation: int | None = None
    ) -> np.ndarray | None:
        active = filters.active() if filters is not None else {}
        if not active:
            known = self._any_retired
            if generation is not None and known[0] == generation:
                retired = known[1]
            else:
                retired = bool(cur.execute("SELECT count(*) FROM catalogs WHERE retired").fetchone()[0])
                if generation is not None:
                    self._any_retired = (generation, retired)
            if not retired:
                return None  # no restriction: plain FAISS search
        where, params = [_LIVE], []
        for name, values in active.items():
            where.append(f"{_COLUMNS[name]} IN ({', '.join('?' for _ in values)})")
            params += values
        rows = cur.execute(
            f"SELECT c.clip_id FROM clips c JOIN videos v USING (video_id) WHERE {' AND '.join(where)}", params
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    @staticmethod
    def _read_rows(
        cur: duckdb.DuckDBPyConnection, ids: Sequence[int] | None
    ) -> dict[int, tuple[dict[str, Any], dict[str, str]]]:
        """``clip_id -> (metadata row, texts)`` of the live clips among ``ids`` (None: of every live clip)."""
        marks = ", ".join("?" for _ in ids) if ids is not None else ""
        where = f"c.clip_id IN ({marks}) AND {_LIVE}" if ids is not None else _LIVE
        params = list(ids) if ids is not None else []
        rows = _dicts(
            cur,
            "SELECT c.clip_id, c.video_id, v.catalog_id, v.path, v.uri, c.start_s, c.end_s, c.thumb, v.industry, "
            f"v.sub_industry, v.product, v.game, v.split FROM clips c JOIN videos v USING (video_id) WHERE {where}",
            params,
        )
        meta = {r["clip_id"]: r for r in rows}
        texts: dict[int, dict[str, str]] = {}
        # per (clip, kind): a generated text (source != 'manifest') first, then the newest
        for cid, kind, text in cur.execute(
            "SELECT clip_id, kind, text FROM texts WHERE "
            + (f"clip_id IN ({marks}) AND " if ids is not None else "")
            + "kind IN ('fine', 'tags', 'general', 'asr', 'reference') "
            "ORDER BY clip_id, kind, (source = 'manifest') DESC, created_at, source",
            params,
        ).fetchall():
            texts.setdefault(cid, {})[kind] = text  # the last row per kind wins
        return {i: (row, texts.get(i, {})) for i, row in meta.items()}

    def _fill_rows(self, cur: duckdb.DuckDBPyConnection, generation: int) -> None:
        """Read every live clip's row of catalog copy ``generation`` into the row cache in two queries, when they
        fit in it (after a catalog change the searches would otherwise read them a few at a time); one thread does,
        the others wait for it."""
        with self._rows.fill_lock:
            if self._rows.generation >= generation:
                return  # another thread filled it meanwhile
            (n,) = cur.execute(f"SELECT count(*) FROM clips c JOIN videos v USING (video_id) WHERE {_LIVE}").fetchone()
            if n <= self._rows.size:
                self._rows.put(generation, self._read_rows(cur, None))

    def _hits(
        self, cur: duckdb.DuckDBPyConnection, generation: int, scores: np.ndarray, ids: np.ndarray
    ) -> list[list[Hit]]:
        found = {int(i) for i in ids.ravel() if i >= 0}
        cached = self._rows.get(generation, found)
        if len(cached) < len(found) and self._rows.generation != generation:
            self._fill_rows(cur, generation)  # a new catalog copy: every row at once when they all fit
            cached = self._rows.get(generation, found)
        wanted = sorted(found - cached.keys())
        meta: dict[int, dict[str, Any]] = {i: row for i, (row, _) in cached.items()}
        texts: dict[int, dict[str, str]] = {i: t for i, (_, t) in cached.items()}
        if wanted:
            rows = self._read_rows(cur, wanted)
            for i, (row, clip_texts) in rows.items():
                meta[i], texts[i] = row, clip_texts
            self._rows.put(generation, rows)
        out = []
        for q_scores, q_ids in zip(scores, ids, strict=True):
            hits: list[Hit] = []
            for score, cid in zip(q_scores, q_ids, strict=True):
                row = meta.get(int(cid))
                if row is None:  # padding (-1), or a clip whose catalog was retired after the filter ran
                    continue
                thumb = row["thumb"]
                if thumb:
                    thumb = self._thumbs.get(thumb)
                    if thumb is None:  # the absolute path, made once per thumbnail (pathlib costs per hit)
                        thumb = self._thumbs[row["thumb"]] = str(self._root / row["thumb"])
                        if len(self._thumbs) > _ROW_CACHE_CLIPS:
                            self._thumbs.clear()
                hits.append(
                    Hit(
                        rank=len(hits) + 1,
                        clip_id=int(cid),
                        video_id=int(row["video_id"]),
                        catalog_id=row["catalog_id"],
                        path=row["path"],
                        uri=row["uri"],
                        start_s=float(row["start_s"]),
                        end_s=float(row["end_s"]),
                        score=float(score),
                        thumb=thumb or None,
                        texts=dict(texts.get(int(cid), {})),
                        labels={k: row[k] for k in ("industry", "sub_industry", "product", "game", "split")},
                    )
                )
            out.append(hits)
        return out

    # --- search ------------------------------------------------------------------------------------------------
    def search_vectors(
        self, vectors: np.ndarray, k: int = DEFAULT_K, filters: Filters | None = None
    ) -> list[list[Hit]]:
        """Hits for query vectors (Q, D) of this model; a filter that matches nothing gives empty lists.

        Raises:
            QueryError: k out of ``1..MAX_K``, more than ``MAX_BATCH`` vectors, or not a (Q, D) array of numbers.
        """
        k = check_k(k)
        try:
            vectors = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise QueryError(f"query vectors must be a (Q, D) array of numbers ({e})") from None
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if vectors.ndim != 2 or len(vectors) > MAX_BATCH:
            raise QueryError(f"expected at most {MAX_BATCH:,} query vectors (Q, D), got shape {vectors.shape}")
        cur, generation = self._snapshot.cursor_and_generation()
        allowed = self._allowed_ids(cur, filters, generation)
        if allowed is not None and allowed.size == 0:
            return [[] for _ in range(len(vectors))]
        scores, ids = self._live.search(vectors, k, allowed_ids=allowed)
        return self._hits(cur, generation, scores, ids)

    def search_batch(
        self, queries: Sequence[str], k: int = DEFAULT_K, filters: Filters | None = None
    ) -> list[list[Hit]]:
        """Hits for several text queries (one encoder call).

        Raises:
            QueryError: one of the queries is empty, whitespace only or too long (the message says which).
        """
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise QueryError("search_batch takes a list of queries; use search() for one")
        if len(queries) > MAX_BATCH:
            raise QueryError(f"{len(queries):,} queries; at most {MAX_BATCH:,} queries per call")
        k = check_k(k)
        texts = []
        for i, q in enumerate(queries):
            try:
                texts.append(check_query(q))
            except QueryError as e:
                raise QueryError(f"query {i}: {e}") from None
        if not texts:
            return []
        return self.search_vectors(self._encode([self.expand_query(t) for t in texts]), k, filters)

    @property
    def channels(self) -> tuple[str, ...]:
        """Channels with a published index: ``visual`` and the text channels built for the catalog."""
        return (VISUAL, *(self._text.available() if self._text is not None else ()))

    def _channels(self, channels: str | Sequence[str] | None) -> tuple[str, ...]:
        try:
            return parse_channels(channels, self.channels)
        except ChannelError as e:
            raise QueryError(str(e)) from None

    def _rankings(self, text: str, wanted: Sequence[str], depth: int, allowed: np.ndarray | None) -> dict:
        out: dict[str, Ranking] = {}
        if allowed is not None and allowed.size == 0:
            return out
        expanded = self.expand_query(text)
        if VISUAL in wanted:
            scores, ids = self._live.search(self._encode([expanded]), depth, allowed_ids=allowed)
            out[VISUAL] = Ranking.of(ids[0], scores[0])
        if self._text is not None and set(wanted) & set(TEXT_CHANNELS):
            if DESCRIPTION in wanted:
                out.update(self._text.rankings(expanded, [DESCRIPTION], depth, allowed))
            others = [c for c in wanted if c in TEXT_CHANNELS and c != DESCRIPTION]
            if others:
                out.update(self._text.rankings(text, others, depth, allowed))
        return out

    def expand_query(self, query: str) -> str:
        """What the visual and description channels search: ``query`` followed by the catalog's words for its words
        the descriptions never use (``indexer.synonyms``; "lady in a frock" -> "lady in a frock woman dress"); speech
        and on-screen text search the user's own words. The query itself without a published description index."""
        return self._text.expand(query) if self._text is not None else query

    def query_vector(self, query: str) -> np.ndarray | None:
        """The text channels' (dim,) sentence vector of ``query`` (what their dense rankers and learned fusion take),
        or None when no text channel is published."""
        if self._text is None or not self._text.available():
            return None
        return self._text.query_vector(check_query(query))[0]

    def _fusion_input(self, text: str, fusion: str, weights: Mapping[str, float] | None) -> tuple[str, Any]:
        """(method, query vector) for ``fuse``: learned fusion takes the query's sentence vector; without one (no
        text channel) or with weights of another encoder, it is zscore with the fixed ``ZSCORE_WEIGHTS``."""
        if fusion != "learned" or weights is not None:
            return fusion, None
        learned = shipped_learned_weights()
        vector = self._text.query_vector(text)[0] if self._text is not None else None  # the rankings' own vector
        if vector is None or self._text.encoder.encoder_id != learned.encoder or vector.shape != (learned.dim,):
            if vector is not None and not self._warned_encoder:
                self._warned_encoder = True
                _log.warning("learned fusion weights are for encoder %s, the text channels use %s: zscore fusion",
                             learned.encoder, self._text.encoder.encoder_id)  # fmt: skip
            return "zscore", None
        return fusion, vector

    def rankings(
        self, query: str, depth: int = 100, filters: Filters | None = None, channels: str | Sequence[str] | None = None
    ) -> dict[str, Ranking]:
        """Each ranker's list for a query before fusion (``visual``, ``<channel>.lexical``, ``<channel>.dense`` and
        ``<channel>.<kind>``: ``TextChannels.rankings``), at most ``depth`` clips each, filters applied: the input of
        ``indexer.fusion.fuse`` / ``evaluate_fusion``."""
        text = check_query(query)
        wanted = self._channels(channels)
        depth = _check_size(depth, "depth", MAX_DEPTH)
        return self._rankings(text, wanted, depth, self._allowed_ids(self._snapshot.cursor(), filters))

    def search(
        self,
        query: str,
        k: int = DEFAULT_K,
        filters: Filters | None = None,
        channels: str | Sequence[str] | None = None,
        *,
        fusion: str = DEFAULT_FUSION,
        weights: Mapping[str, float] | None = None,
    ) -> list[Hit]:
        """The top ``k`` clips for a text query, best first.

        Args:
            query: What the clip shows, says or prints.
            k: Number of hits.
            filters: Metadata filters; they apply to every channel.
            channels: ``visual``, ``description``, ``speech``, ``text`` (names or a comma-separated string);
                None: every channel with a published index. Visual alone is the plain video-vector search (``score``
                is the cosine similarity); several channels are fused (``indexer.fusion``) and each hit carries the
                channels that matched and its snippets.
            fusion: ``"learned"`` (the default: zscore with weights chosen for this query), ``"zscore"``, ``"rrf"``
                or ``"score"`` (``indexer.fusion.FUSION_METHODS``).
            weights: Per ranker or channel weights of the fusion (default: the method's defaults).

        Raises:
            QueryError: empty, whitespace-only or too long query, k < 1, an unknown or unpublished channel, or an
                unknown fusion method.
        """
        text = check_query(query)
        k = check_k(k)
        wanted = self._channels(channels)
        if wanted == (VISUAL,):
            return self.search_vectors(self._encode([self.expand_query(text)]), k, filters)[0]
        cur, generation = self._snapshot.cursor_and_generation()
        rankings = self._rankings(text, wanted, fusion_depth(k), self._allowed_ids(cur, filters, generation))
        fusion, vector = self._fusion_input(text, fusion, weights)
        try:  # k + 32: spare candidates for clips the catalog copy no longer holds
            top = fuse(rankings, method=fusion, weights=weights, limit=k + 32, query_vector=vector)
        except ValueError as e:
            raise QueryError(str(e)) from None
        scores = np.array([[f.score for f in top]], np.float64)
        hits = self._hits(cur, generation, scores, np.array([[f.clip_id for f in top]], np.int64))[0][:k]
        snippets = (lambda wanted: self._text.snippets(text, wanted)) if self._text is not None else None
        return explain_hits(hits, top, k, snippets)

    def filter_values(self) -> dict[str, list[str]]:
        """Distinct values of each filter field over searchable clips (for dropdowns), sorted."""
        out = {}
        cur = self._snapshot.cursor()
        for name, column in _COLUMNS.items():
            rows = cur.execute(
                f"SELECT DISTINCT {column} FROM videos v WHERE {_LIVE} AND {column} IS NOT NULL ORDER BY 1"
            ).fetchall()
            out[name] = [r[0] for r in rows]
        return out

    def catalog_cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the in-memory catalog copy searches read (tables ``catalogs``, ``videos``, ``clips``,
        ``texts``; see ``indexer.catalog_snapshot``), for clip look-ups that must not open the catalog file."""
        return self._snapshot.cursor()

"""The search API: text (or vectors) -> FAISS top-k restricted by catalog filters -> hits with clip metadata.

Filters run as parameterised DuckDB queries over ``videos`` / ``catalogs`` and reach FAISS as an ID selector
(``faiss_index.search(allowed_ids=...)``), so every hit matches and ``k`` hits come back whenever ``k`` matching
clips are indexed. Clips of retired catalogs never appear (they stay in the index until the next ``add`` removes
them, and are filtered out meanwhile). The index is a ``versions.LiveIndex``: a newly published version is picked
up without a restart, and searches in flight finish on the old one.

Filters and hit metadata are read from an in-memory copy of the catalog (``indexer.catalog_snapshot``), taken
again when the file changes, so a long write (ingest, captioning) never makes search fail; a retire is picked up
within ``check_interval_s`` of its write.

Queries: empty or whitespace-only queries and queries over ``MAX_QUERY_CHARS`` characters raise ``QueryError``;
below that limit the text tower truncates at its own token limit (the tiny retriever: 64 tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from indexer.catalog_snapshot import CatalogSnapshot
from indexer.versions import LiveIndex

__all__ = ["FILTER_FIELDS", "MAX_QUERY_CHARS", "Filters", "Hit", "QueryError", "Searcher"]

_log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 2000  # longer text is not a search query (a pasted document); the tokenizer truncates earlier

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
    """A query that cannot be searched: empty, whitespace only, too long, or an unknown filter field."""


@dataclass(frozen=True)
class Filters:
    """Metadata filters: each field None (no filter), a value, or a sequence of values.

    AND across fields, OR within a field: ``Filters(industry="games", game=["rpg", "moba"])``.
    """

    industry: str | Sequence[str] | None = None
    sub_industry: str | Sequence[str] | None = None
    product: str | Sequence[str] | None = None
    game: str | Sequence[str] | None = None
    catalog: str | Sequence[str] | None = None
    split: str | Sequence[str] | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Filters:
        """Filters from a mapping (e.g. form fields); None and empty values mean no filter.

        Raises:
            QueryError: a key that is not a filter field.
        """
        unknown = sorted(set(values) - set(FILTER_FIELDS))
        if unknown:
            raise QueryError(f"unknown filter field(s) {unknown}; valid: {', '.join(FILTER_FIELDS)}")
        return cls(**{k: v for k, v in values.items() if v not in (None, "", [], ())})

    def active(self) -> dict[str, list[str]]:
        """Fields that filter, as lists of values."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = [value] if isinstance(value, str) else [str(v) for v in value]
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


def _dicts(cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    result = cur.execute(sql, list(params))
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def check_query(query: str) -> str:
    """The query stripped of surrounding whitespace.

    Raises:
        QueryError: not a string, empty or whitespace only, or longer than ``MAX_QUERY_CHARS``.
    """
    if not isinstance(query, str):
        raise QueryError(f"a query is a string, got {type(query).__name__}")
    text = query.strip()
    if not text:
        raise QueryError("the query is empty; type what the clip shows, e.g. 'a woman in a red dress dancing'")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query has {len(text)} characters; the limit is {MAX_QUERY_CHARS}: shorten it")
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
    ) -> None:
        self._snapshot = CatalogSnapshot(catalog_path, check_interval_s=check_interval_s)
        self._root = Path(workspace_root) if workspace_root is not None else Path(catalog_path).parent
        self._encode = encode_text
        self.model_id = model_id
        self._live = LiveIndex(indexes_dir, model_id, check_interval_s=check_interval_s)

    @property
    def version(self) -> str:
        """The published index version searches use now."""
        self._live.refresh()
        return self._live.version

    # --- catalog access ----------------------------------------------------------------------------------------
    def _allowed_ids(self, cur: duckdb.DuckDBPyConnection, filters: Filters | None) -> np.ndarray | None:
        active = filters.active() if filters is not None else {}
        if not active:
            retired = cur.execute("SELECT count(*) FROM catalogs WHERE retired").fetchone()[0]
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

    def _hits(self, cur: duckdb.DuckDBPyConnection, scores: np.ndarray, ids: np.ndarray) -> list[list[Hit]]:
        wanted = sorted({int(i) for i in ids.ravel() if i >= 0})
        meta: dict[int, dict[str, Any]] = {}
        texts: dict[int, dict[str, str]] = {}
        if wanted:
            marks = ", ".join("?" for _ in wanted)
            rows = _dicts(
                cur,
                "SELECT c.clip_id, c.video_id, v.catalog_id, v.path, v.uri, c.start_s, c.end_s, c.thumb, v.industry, "
                f"v.sub_industry, v.product, v.game, v.split FROM clips c JOIN videos v USING (video_id) "
                f"WHERE c.clip_id IN ({marks}) AND {_LIVE}",
                wanted,
            )
            meta = {r["clip_id"]: r for r in rows}
            # per (clip, kind): a generated text (source != 'manifest') first, then the newest
            for cid, kind, text in cur.execute(
                "SELECT clip_id, kind, text FROM texts WHERE clip_id IN ("
                + marks
                + ") AND kind IN ('fine', 'general', 'asr', 'reference') "
                "ORDER BY clip_id, kind, (source = 'manifest') DESC, created_at, source",
                wanted,
            ).fetchall():
                texts.setdefault(cid, {})[kind] = text  # the last row per kind wins
        out = []
        for q_scores, q_ids in zip(scores, ids, strict=True):
            hits: list[Hit] = []
            for score, cid in zip(q_scores, q_ids, strict=True):
                row = meta.get(int(cid))
                if row is None:  # padding (-1), or a clip whose catalog was retired after the filter ran
                    continue
                thumb = row["thumb"]
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
                        thumb=str(self._root / thumb) if thumb else None,
                        texts=texts.get(int(cid), {}),
                        labels={k: row[k] for k in ("industry", "sub_industry", "product", "game", "split")},
                    )
                )
            out.append(hits)
        return out

    # --- search ------------------------------------------------------------------------------------------------
    def search_vectors(self, vectors: np.ndarray, k: int = 10, filters: Filters | None = None) -> list[list[Hit]]:
        """Hits for query vectors (Q, D) of this model; a filter that matches nothing gives empty lists."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise QueryError(f"k must be a positive integer, got {k!r}")
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        cur = self._snapshot.cursor()
        allowed = self._allowed_ids(cur, filters)
        if allowed is not None and allowed.size == 0:
            return [[] for _ in range(len(vectors))]
        scores, ids = self._live.search(vectors, k, allowed_ids=allowed)
        return self._hits(cur, scores, ids)

    def search_batch(self, queries: Sequence[str], k: int = 10, filters: Filters | None = None) -> list[list[Hit]]:
        """Hits for several text queries (one encoder call).

        Raises:
            QueryError: one of the queries is empty, whitespace only or too long (the message says which).
        """
        if isinstance(queries, str):
            raise QueryError("search_batch takes a list of queries; use search() for one")
        texts = []
        for i, q in enumerate(queries):
            try:
                texts.append(check_query(q))
            except QueryError as e:
                raise QueryError(f"query {i}: {e}") from None
        if not texts:
            return []
        return self.search_vectors(self._encode(texts), k, filters)

    def search(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """The top ``k`` clips for a text query, best first.

        Raises:
            QueryError: empty, whitespace-only or too long query, or k < 1.
        """
        return self.search_vectors(self._encode([check_query(query)]), k, filters)[0]

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

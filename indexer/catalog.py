"""catalog.duckdb: connection, numbered migrations, and every SQL statement the project runs on the catalog."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

__all__ = [
    "TEXT_KINDS",
    "Catalog",
    "ClipRow",
    "VideoRow",
    "open_catalog",
]

_log = logging.getLogger(__name__)

TEXT_KINDS = ("reference", "general", "fine", "tags", "asr", "ocr", "keywords")
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

_VIDEO_COLUMNS = (
    "video_id",
    "catalog_id",
    "uri",
    "path",
    "manifest_row",
    "sha256",
    "size_bytes",
    "duration_s",
    "fps",
    "frame_count",
    "width",
    "height",
    "has_audio",
    "industry",
    "sub_industry",
    "product",
    "game",
    "split",
    "fragmented",
    "fragment_share",
    "status",
    "error",
)


@dataclass(frozen=True)
class VideoRow:
    """A row of ``videos`` as ingest writes it (``ingested_at`` is set by the database)."""

    video_id: int
    catalog_id: str
    status: str  # 'ok' | 'failed'
    uri: str | None = None
    path: str | None = None
    manifest_row: int | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    frame_count: int | None = None
    width: int | None = None
    height: int | None = None
    has_audio: bool | None = None
    industry: str | None = None
    sub_industry: str | None = None
    product: str | None = None
    game: str | None = None
    split: str | None = None
    fragmented: bool | None = None
    fragment_share: float | None = None
    error: str | None = None
    transcribed_by: str | None = None  # not a column: the Whisper source when ingest transcribed the audio inline


@dataclass(frozen=True)
class ClipRow:
    """A row of ``clips`` plus the texts to store for it as (kind, text, source)."""

    clip_id: int
    video_id: int
    shot_index: int
    start_s: float
    end_s: float
    thumb: str | None = None
    texts: tuple[tuple[str, str, str], ...] = ()


def _migrations() -> list[tuple[int, str, str]]:
    """The packaged migrations as (number, file name, SQL), in order."""
    found = []
    for entry in resources.files("indexer.migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    assert numbers == list(range(1, len(found) + 1)), f"migrations must be numbered 1..N without gaps: {numbers}"
    return found


class Catalog:
    """A thin wrapper over a DuckDB connection to ``catalog.duckdb`` with the project's queries.

    Use :func:`open_catalog` to get one; it applies pending migrations. Writes happen in explicit transactions
    (:meth:`write_video`), so a process killed at any point leaves only whole videos behind.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path):
        self.con = con
        self.path = path

    # --- lifecycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]

    def migrate(self) -> list[str]:
        """Apply the migrations this file has not seen yet, each in its own transaction; returns their names."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
        )
        current = self.schema_version
        applied = []
        for number, name, sql in _migrations():
            if number <= current:
                continue
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [number, name])
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            _log.info("catalog %s: applied migration %s", self.path, name)
            applied.append(name)
        return applied

    # --- catalogs --------------------------------------------------------------------------------------------
    def ensure_catalog(self, catalog_id: str, source: str | None) -> None:
        self.con.execute(
            "INSERT INTO catalogs (catalog_id, source) VALUES (?, ?) ON CONFLICT DO NOTHING", [catalog_id, source]
        )

    def catalog_ids(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT catalog_id FROM catalogs ORDER BY created_at").fetchall()]

    # --- videos ----------------------------------------------------------------------------------------------
    def video_status(self, video_id: int) -> str | None:
        row = self.con.execute("SELECT status FROM videos WHERE video_id = ?", [video_id]).fetchone()
        return row[0] if row else None

    def video_by_sha256(self, sha256: str) -> tuple[int, str, str] | None:
        """(video_id, catalog_id, status) of the ok video with this content, if any."""
        return self.con.execute(
            "SELECT video_id, catalog_id, status FROM videos WHERE sha256 = ? AND status = 'ok' LIMIT 1", [sha256]
        ).fetchone()

    def write_video(self, video: VideoRow, clips: Sequence[ClipRow] = (), *, replace: bool = False) -> None:
        """Insert a video with its clips and texts in one transaction.

        Args:
            video: The video row.
            clips: Its clips (empty for a failed video).
            replace: Delete an existing row with the same ``video_id`` (and its clips and texts) first,
                e.g. when a failed video is retried.
        """
        self.con.execute("BEGIN TRANSACTION")
        try:
            if replace:
                self._delete_video(video.video_id)
            cols = ", ".join(_VIDEO_COLUMNS)
            marks = ", ".join("?" for _ in _VIDEO_COLUMNS)
            values = [getattr(video, c) for c in _VIDEO_COLUMNS]
            self.con.execute(f"INSERT INTO videos ({cols}) VALUES ({marks})", values)
            if clips:
                self.con.executemany(
                    "INSERT INTO clips (clip_id, video_id, shot_index, start_s, end_s, thumb) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [[c.clip_id, c.video_id, c.shot_index, c.start_s, c.end_s, c.thumb] for c in clips],
                )
                texts = [[c.clip_id, kind, text, source] for c in clips for kind, text, source in c.texts]
                if texts:
                    self.con.executemany("INSERT INTO texts (clip_id, kind, text, source) VALUES (?, ?, ?, ?)", texts)
            if video.transcribed_by:  # as write_transcripts: a later `adsearch transcribe` skips it, speech or not
                n = sum(1 for c in clips for kind, _, src in c.texts if kind == "asr" and src == video.transcribed_by)
                self._mark_transcribed([[video.video_id, video.transcribed_by, n]])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    def _delete_video(self, video_id: int) -> None:
        self.con.execute(
            "DELETE FROM texts WHERE clip_id IN (SELECT clip_id FROM clips WHERE video_id = ?)", [video_id]
        )
        self.con.execute("DELETE FROM clips WHERE video_id = ?", [video_id])
        self.con.execute("DELETE FROM transcribed WHERE video_id = ?", [video_id])
        self.con.execute("DELETE FROM videos WHERE video_id = ?", [video_id])

    # --- texts -----------------------------------------------------------------------------------------------
    def upsert_texts(self, rows: Iterable[tuple[int, str, str, str] | tuple[int, str, str, str, Any]]) -> int:
        """Insert or replace (clip_id, kind, text, source[, meta]) rows in one transaction; returns how many.

        ``meta`` (optional) is a JSON-serialisable value stored in ``texts.meta`` (NULL when absent), e.g. an OCR
        text's per-line frame times and boxes.
        """
        rows = [[*r[:4], None if len(r) < 5 or r[4] is None else json.dumps(r[4])] for r in rows]
        for _, kind, _, _, _ in rows:
            if kind not in TEXT_KINDS:
                raise ValueError(f"unknown text kind {kind!r}; valid: {', '.join(TEXT_KINDS)}")
        if not rows:
            return 0
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.executemany(
                "INSERT OR REPLACE INTO texts (clip_id, kind, text, source, meta) VALUES (?, ?, ?, ?, ?)", rows
            )
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return len(rows)

    def write_transcripts(self, videos: Iterable[tuple[int, str, Sequence[tuple[int, str]]]]) -> int:
        """Record transcribed videos in one transaction: for each (video_id, source, [(clip_id, words), ...]) the
        clips' ``asr`` texts (clips without words get none) and the video's ``transcribed`` row (so a later
        ``adsearch transcribe`` skips it, speech or not). Returns the texts written."""
        videos = list(videos)
        texts = [[cid, "asr", words, source] for _, source, clips in videos for cid, words in clips if words]
        self.con.execute("BEGIN TRANSACTION")
        try:
            if texts:
                self.con.executemany(
                    "INSERT OR REPLACE INTO texts (clip_id, kind, text, source) VALUES (?, ?, ?, ?)", texts
                )
            self._mark_transcribed([[vid, source, sum(1 for _, w in clips if w)] for vid, source, clips in videos])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return len(texts)

    def _mark_transcribed(self, rows: Sequence[Sequence[Any]]) -> None:
        # (video_id, source, clips with speech) inside the caller's transaction
        self.con.executemany("INSERT OR REPLACE INTO transcribed (video_id, source, clips) VALUES (?, ?, ?)", rows)

    # --- runs ------------------------------------------------------------------------------------------------
    @staticmethod
    def new_run_id(command: str) -> str:
        """A ``runs`` id: the command, the UTC time and a random suffix."""
        return f"{command}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"

    def start_run(self, run_id: str, command: str, catalog_id: str | None) -> None:
        self.con.execute(
            "INSERT INTO runs (run_id, command, catalog_id) VALUES (?, ?, ?)", [run_id, command, catalog_id]
        )

    def finish_run(self, run_id: str, summary: dict[str, Any]) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = current_timestamp, summary = ? WHERE run_id = ?",
            [json.dumps(summary), run_id],
        )

    # --- reading ---------------------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read query and return rows as dicts (for callers above the library layer and tests)."""
        cur = self.con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def clips_with_texts(
        self,
        *,
        splits: Sequence[str] | None = None,
        include_retired: bool = False,
        text_sources: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Clips of ok videos, ordered by ``clip_id``, each with its video's path and labels and its texts.

        Each dict has ``clip_id, video_id, catalog_id, path, start_s, end_s, shot_index, thumb, split, industry,
        sub_industry, product, game`` and ``texts``: ``{kind: [text, ...]}`` (one entry per source, in source
        order). ``text_sources``: SQL LIKE patterns; only texts whose source matches one are kept (e.g.
        ``["manifest", "whisper:%"]`` for the annotations and transcripts, leaving out generated captions).
        """
        where = ["v.status = 'ok'"]
        params: list[Any] = []
        if splits is not None:
            where.append(f"v.split IN ({', '.join('?' for _ in splits)})")
            params += list(splits)
        if not include_retired:
            where.append("v.catalog_id NOT IN (SELECT catalog_id FROM catalogs WHERE retired)")
        clips = self.query(
            "SELECT c.clip_id, c.video_id, v.catalog_id, v.path, c.start_s, c.end_s, c.shot_index, c.thumb, v.split, "
            "v.industry, v.sub_industry, v.product, v.game "
            f"FROM clips c JOIN videos v USING (video_id) WHERE {' AND '.join(where)} ORDER BY c.clip_id",
            params,
        )
        texts: dict[int, dict[str, list[str]]] = {}
        text_where, text_params = list(where), list(params)
        if text_sources is not None:
            text_where.append("(" + " OR ".join("t.source LIKE ?" for _ in text_sources) + ")")
            text_params += list(text_sources)
        rows = self.con.execute(
            "SELECT t.clip_id, t.kind, t.text FROM texts t JOIN clips c USING (clip_id) JOIN videos v USING (video_id) "
            f"WHERE {' AND '.join(text_where)} ORDER BY t.clip_id, t.kind, t.source",
            text_params,
        ).fetchall()
        for cid, kind, text in rows:
            texts.setdefault(cid, {}).setdefault(kind, []).append(text)
        for c in clips:
            c["texts"] = texts.get(c["clip_id"], {})
        return clips

    def stats(self) -> dict[str, Any]:
        """Counts by status, split, label and text kind, for ``adsearch catalog stats``."""

        def pairs(sql: str) -> dict[str, int]:
            return {("(none)" if k is None else str(k)): int(v) for k, v in self.con.execute(sql).fetchall()}

        ok_clips = "FROM clips c JOIN videos v USING (video_id) WHERE v.status = 'ok'"
        return {
            "catalogs": pairs("SELECT catalog_id, count(*) FROM videos GROUP BY 1 ORDER BY 1"),
            "videos_by_status": pairs("SELECT status, count(*) FROM videos GROUP BY 1 ORDER BY 1"),
            "clips": self.con.execute(f"SELECT count(*) {ok_clips}").fetchone()[0],
            "clips_by_split": pairs(f"SELECT v.split, count(*) {ok_clips} GROUP BY 1 ORDER BY 1"),
            "videos_by_industry": pairs(
                "SELECT industry, count(*) FROM videos WHERE status = 'ok' GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "videos_by_product": pairs(
                "SELECT product, count(*) FROM videos WHERE status = 'ok' GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "videos_by_game": pairs(
                "SELECT game, count(*) FROM videos WHERE status = 'ok' GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            "texts_by_kind": pairs("SELECT kind || ' (' || source || ')', count(*) FROM texts GROUP BY 1 ORDER BY 1"),
            "fragmented_videos": self.con.execute("SELECT count(*) FROM videos WHERE fragmented").fetchone()[0],
            "failed": [
                {"uri": u, "row": r, "error": e}
                for u, r, e in self.con.execute(
                    "SELECT uri, manifest_row, error FROM videos WHERE status = 'failed' ORDER BY catalog_id, uri"
                ).fetchall()
            ],
        }


def open_catalog(path: str | Path, *, read_only: bool = False) -> Catalog:
    """Open (creating if needed) ``catalog.duckdb`` and bring its schema up to date.

    Raises:
        FileNotFoundError: ``read_only`` and the file does not exist.
        ValueError: the file is not a DuckDB database.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"catalog not found: {path} (run `adsearch ingest` first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        raise ValueError(f"cannot open catalog {path}: {e}") from e
    cat = Catalog(con, path)
    if not read_only:
        cat.migrate()
    return cat

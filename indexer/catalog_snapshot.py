"""An in-memory copy of the catalog tables search reads, refreshed when ``catalog.duckdb`` changes.

DuckDB lets one process write a database file, and no other process may open it meanwhile, not even read-only.
``adsearch ingest`` and captioning hold the catalog for their whole run, so a searcher that opened the file for each
query would fail for minutes. A searcher reads a copy instead: ``catalogs``, ok ``videos``, ``clips`` and the texts
hits show, copied into an in-memory DuckDB database (queries stay parameterised SQL). The copy is taken again when
the file or its write-ahead log changed since the last copy (checked at most every ``check_interval_s``); while a
writer holds the file, the last copy keeps answering (a new catalog is not searchable before ``index add`` anyway,
and a retire is picked up once its short write is done).

``copy=False`` (a one-shot search, e.g. ``adsearch search``) attaches the file read-only behind views of the same
names instead of copying it, so only the rows a query needs are read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

__all__ = ["CatalogSnapshot"]

_log = logging.getLogger(__name__)

# A writer holds the file: another process (IOException: the file lock), or this process itself, e.g. the search
# service adding a catalog in a background job (ResourceInUseException: the file is attached already).
_BUSY = (duckdb.IOException, duckdb.ResourceInUseException)
_FIRST_COPY_TRIES = 20  # the first copy has no fallback: wait up to ~1 s for a short writer, then fail
_FIRST_COPY_WAIT_S = 0.05

_COPY_SQL = (
    "CREATE TABLE catalogs AS SELECT catalog_id, retired FROM src.catalogs",
    "CREATE TABLE videos AS SELECT video_id, catalog_id, path, uri, industry, sub_industry, product, game, split "
    "FROM src.videos WHERE status = 'ok'",
    "CREATE TABLE clips AS SELECT c.clip_id, c.video_id, c.start_s, c.end_s, c.thumb FROM src.clips c "
    "JOIN src.videos v USING (video_id) WHERE v.status = 'ok'",
    "CREATE TABLE texts AS SELECT clip_id, kind, text, source, created_at FROM src.texts "
    "WHERE kind IN ('fine', 'tags', 'general', 'asr', 'reference')",
    "CREATE INDEX clips_id ON clips (clip_id)",
    "CREATE INDEX texts_clip ON texts (clip_id)",
)
# copy=False: the same tables as views on the attached file (no indexes: the file's own are used)
_VIEW_SQL = tuple(sql.replace("CREATE TABLE", "CREATE VIEW", 1) for sql in _COPY_SQL if sql.startswith("CREATE TABLE"))


def _copy(path: Path, copy: bool = True) -> duckdb.DuckDBPyConnection:
    mem = duckdb.connect(":memory:")
    try:
        mem.execute("ATTACH ? AS src (READ_ONLY)", [str(path)])
        for sql in _COPY_SQL if copy else _VIEW_SQL:
            mem.execute(sql)
        if copy:
            mem.execute("DETACH src")
    except BaseException:
        mem.close()
        raise
    return mem


class CatalogSnapshot:
    """The copy a ``Searcher`` queries; ``cursor()`` gives a thread-safe handle on the current copy.

    ``copy=False``: views on the file attached read-only instead of a copy (for one search and exit: nothing is read
    up front; a writer that takes the file later makes the next query fail).

    Raises:
        FileNotFoundError: no catalog at ``path``.
        ValueError: the first copy cannot be taken (a writer holds the file for more than a second).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        check_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        copy: bool = True,
    ) -> None:
        self.path = Path(path)
        self.copy = copy
        if not self.path.is_file():
            raise FileNotFoundError(f"catalog not found: {self.path} (run `adsearch ingest` first)")
        self._interval = check_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._con = self._first_copy()
        self._last_check = clock()
        self.refreshes = 0  # copies taken after the first

    def _stat(self) -> tuple:
        out = []
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                st = os.stat(p)
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def _first_copy(self) -> duckdb.DuckDBPyConnection:
        for attempt in range(_FIRST_COPY_TRIES):
            try:
                return _copy(self.path, self.copy)
            except _BUSY as e:
                if attempt == _FIRST_COPY_TRIES - 1:
                    raise ValueError(
                        f"cannot read catalog {self.path}: it is being written (by another process, or a job of this "
                        f"one: {e}); search again when it is done"
                    ) from e
                time.sleep(_FIRST_COPY_WAIT_S)
        raise AssertionError("unreachable")

    def refresh(self, *, force: bool = False) -> bool:
        """Copy the catalog again if the file changed (and no writer holds it); returns whether it did."""
        now = self._clock()
        if not force and now - self._last_check < self._interval:
            return False
        self._last_check = now
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        try:
            con = _copy(self.path, self.copy)
        except _BUSY as e:  # a writer holds the file: keep answering from the last copy
            _log.debug("catalog %s busy, searching the copy taken before: %s", self.path, e)
            return False
        with self._lock:
            self._con, self._stamp = con, stamp  # the old copy goes when its last cursor does
            self.refreshes += 1
        return True

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the current copy (refreshed first when due); one per call, so threads do not share one."""
        return self.cursor_and_generation()[0]

    def cursor_and_generation(self) -> tuple[duckdb.DuckDBPyConnection, int]:
        """``cursor()`` and the generation of the copy it reads (``refreshes`` when it was taken): what a cache of
        rows read through the cursor is valid for."""
        self.refresh()
        with self._lock:
            return self._con.cursor(), self.refreshes

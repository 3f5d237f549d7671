"""Versioned index directories: write a version atomically, publish it by an atomic pointer switch, load, hot-swap.

Layout (docs/ARCHITECTURE.md, "The workspace")::

    <indexes_dir>/<model_id>/<version>/index.faiss   the FAISS index (faiss.write_index format)
    <indexes_dir>/<model_id>/<version>/meta.json     IndexMeta: model, factory, n, search params, recall, ...
    <indexes_dir>/<model_id>/ACTIVE                  the published version's name and a newline

Crash safety: a version is written into ``.tmp-<version>/``, fsynced, then renamed to ``<version>/``; ``ACTIVE`` is
replaced with ``os.replace`` from a fsynced temporary file. Both renames are atomic on POSIX file systems, so a
process killed at any point leaves the published version untouched and never a half-written version under a
version name. Names starting with ``.`` (leftovers of killed writes, versions being deleted) are ignored by readers
and removed by ``prune``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from indexer.faiss_index import SearchParams, apply_search_params, describe_index, search

__all__ = [
    "ACTIVE_NAME",
    "INDEX_NAME",
    "META_NAME",
    "REBUILD_COMMAND",
    "IndexMeta",
    "LiveIndex",
    "LoadedIndex",
    "ModelMismatchError",
    "VersionInfo",
    "active_version",
    "list_versions",
    "load_index",
    "new_version_name",
    "prune",
    "publish",
    "write_version",
]

_log = logging.getLogger(__name__)

INDEX_NAME = "index.faiss"
META_NAME = "meta.json"
ACTIVE_NAME = "ACTIVE"
REBUILD_COMMAND = "adsearch index build"
_META_FORMAT = 1  # bump when meta.json changes incompatibly
_TMP_PREFIX = ".tmp-"  # a version being written (or left by a killed writer)
_DEL_PREFIX = ".del-"  # a version being deleted by prune
_ACTIVE_TMP_PREFIX = f".{ACTIVE_NAME}."  # a pointer being written
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=-]{0,199}$")  # model ids and version names are directory names


class ModelMismatchError(ValueError):
    """The index was built with vectors from another model than the query encoder: scores would be meaningless."""


# ---------------------------------------------------------------------------------------------------------------
# metadata


@dataclass(frozen=True)
class IndexMeta:
    """What an index version was built from and how to search it (``meta.json``)."""

    model_id: str  # the embedding model whose vectors the index holds; queries must come from the same model
    dim: int  # vector dimension
    factory: str  # FAISS factory string the index was built from
    n: int  # number of vectors
    catalog_snapshot: str  # caller's description of the catalog state indexed (e.g. a catalog id list or hash)
    nprobe: int | None = None  # tuned IVF lists probed per query
    efSearch: int | None = None  # tuned HNSW beam width
    k_factor: int | None = None  # tuned refine candidate factor
    recall_at_10: float | None = None  # measured recall@10 against exact search with these params (1.0: exact)
    build_seconds: float = 0.0  # wall time of the build (train + add + tune)
    created_at: str = ""  # ISO 8601 UTC; filled by write_version when empty
    version: str = ""  # the version directory's name; filled by write_version
    index_type: str = ""  # FAISS classes, outermost first, e.g. "IndexIDMap2 > IndexFlat"
    metric: str = "inner_product"  # on L2-normalised vectors: cosine similarity
    faiss_version: str = ""  # FAISS that wrote the index
    extra: dict[str, Any] = field(default_factory=dict)  # anything else the caller wants to keep (JSON values)

    @property
    def search_params(self) -> SearchParams:
        """The tuned search knobs as ``SearchParams``."""
        recall = self.recall_at_10 if self.recall_at_10 is not None else float("nan")
        return SearchParams(nprobe=self.nprobe, efSearch=self.efSearch, k_factor=self.k_factor, recall_at_10=recall)

    @classmethod
    def for_index(
        cls,
        index: faiss.Index,
        *,
        model_id: str,
        factory: str,
        params: SearchParams,
        catalog_snapshot: str,
        build_seconds: float = 0.0,
        extra: dict[str, Any] | None = None,
    ) -> IndexMeta:
        """Metadata for a freshly built and tuned ``index`` (dim, n and type read from the index)."""
        return cls(
            model_id=model_id,
            dim=int(index.d),
            factory=factory,
            n=int(index.ntotal),
            catalog_snapshot=catalog_snapshot,
            nprobe=params.nprobe,
            efSearch=params.efSearch,
            k_factor=params.k_factor,
            recall_at_10=float(params.recall_at_10),
            build_seconds=float(build_seconds),
            index_type=describe_index(index),
            faiss_version=faiss.__version__,
            extra=dict(extra or {}),
        )

    def to_json(self) -> str:
        """The ``meta.json`` text (sorted keys, with a format number)."""
        data = dataclasses.asdict(self)
        data["format"] = _META_FORMAT
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> IndexMeta:
        """Parse ``meta.json`` text; unknown keys (from newer writers) are ignored.

        Raises:
            ValueError: if the text is not a JSON object, misses a required key, or has a newer format.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{META_NAME} is not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise ValueError(f"{META_NAME} must hold a JSON object, got {type(data).__name__}")
        fmt = data.pop("format", _META_FORMAT)
        if fmt > _META_FORMAT:
            raise ValueError(f"{META_NAME} has format {fmt}; this adsearch reads up to {_META_FORMAT}, upgrade it")
        names = {f.name for f in dataclasses.fields(cls)}
        fields = dataclasses.fields(cls)
        required = {f.name for f in fields if f.default is dataclasses.MISSING is f.default_factory}
        missing = sorted(required - data.keys())
        if missing:
            raise ValueError(f"{META_NAME} misses required keys {missing}")
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class VersionInfo:
    """One complete version directory of a model."""

    name: str
    path: Path
    meta: IndexMeta | None  # None when meta.json cannot be read (the version cannot be loaded either)
    published: bool  # whether ACTIVE names it
    size_bytes: int  # index.faiss + meta.json


@dataclass(frozen=True)
class LoadedIndex:
    """An index read from a version directory, with its metadata and tuned search params applied."""

    index: faiss.Index
    meta: IndexMeta
    version: str
    path: Path

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        params: SearchParams | None = None,
        allowed_ids: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``faiss_index.search`` on this index (same arguments and results)."""
        return search(self.index, queries, k, params=params, allowed_ids=allowed_ids)


# ---------------------------------------------------------------------------------------------------------------
# names and paths


def new_version_name(now: datetime | None = None) -> str:
    """A version name that sorts by creation time: ``YYYYmmddTHHMMSS.ffffffZ-<6 hex>`` (UTC, microseconds)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%S}.{now:%f}Z-{secrets.token_hex(3)}"


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or value == ACTIVE_NAME:
        raise ValueError(
            f"{what} {value!r} is not a valid directory name: use letters, digits and . _ @ + = - "
            f"(not starting with '.', at most 200 characters, not {ACTIVE_NAME!r})"
        )
    return value


def _model_dir(indexes_dir: str | Path, model_id: str) -> Path:
    return Path(indexes_dir) / _check_name(model_id, "model_id")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once the directory holding it is synced.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_text_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _is_complete(path: Path) -> bool:
    return (path / INDEX_NAME).is_file() and (path / META_NAME).is_file()


def _version_dirs(model_dir: Path) -> list[Path]:
    if not model_dir.is_dir():
        return []
    return sorted(
        (p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and _is_complete(p)),
        key=lambda p: p.name,
    )


# ---------------------------------------------------------------------------------------------------------------
# write, publish, list, prune


def write_version(
    indexes_dir: str | Path,
    index: faiss.Index,
    meta: IndexMeta,
    *,
    version: str | None = None,
) -> Path:
    """Write ``index`` and ``meta`` as a new, unpublished version of ``meta.model_id``; atomic and durable.

    Args:
        indexes_dir: The workspace's ``indexes/`` folder (created if missing).
        index: The CPU index to save.
        meta: Its metadata; ``version`` and an empty ``created_at`` are filled in.
        version: Directory name; None: ``new_version_name()``.

    Returns:
        The version directory ``<indexes_dir>/<model_id>/<version>``. Publish it with ``publish``.

    Raises:
        ValueError: on an invalid model id or version name, or ``meta`` that does not describe ``index``.
        FileExistsError: if the version already exists.
    """
    model_dir = _model_dir(indexes_dir, meta.model_id)
    version = _check_name(new_version_name() if version is None else version, "version")
    if meta.dim != index.d or meta.n != index.ntotal:
        raise ValueError(f"meta says dim={meta.dim}, n={meta.n} but the index has dim={index.d}, n={index.ntotal}")
    final = model_dir / version
    if final.exists():
        raise FileExistsError(f"index version {final} already exists")
    created_at = meta.created_at or datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    meta = dataclasses.replace(meta, version=version, created_at=created_at)
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f"{_TMP_PREFIX}{version}"
    tmp.mkdir()
    try:
        faiss.write_index(index, str(tmp / INDEX_NAME))
        _fsync_file(tmp / INDEX_NAME)
        _write_text_synced(tmp / META_NAME, meta.to_json())
        _fsync_dir(tmp)
        os.rename(tmp, final)  # atomic: readers see no version or the whole version
        _fsync_dir(model_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _log.info("wrote index version %s/%s (%d vectors, %s)", meta.model_id, version, meta.n, meta.factory)
    return final


def publish(indexes_dir: str | Path, model_id: str, version: str) -> None:
    """Make ``version`` the one searchers load: an atomic, durable replacement of ``ACTIVE``.

    Raises:
        FileNotFoundError: if the version does not exist (the message lists those that do).
    """
    model_dir = _model_dir(indexes_dir, model_id)
    _check_name(version, "version")
    if not _is_complete(model_dir / version):
        names = [p.name for p in _version_dirs(model_dir)]
        raise FileNotFoundError(f"no complete index version {version!r} for model {model_id!r}; versions: {names}")
    tmp = model_dir / f"{_ACTIVE_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.tmp"  # unique: publishers may race
    try:
        _write_text_synced(tmp, version + "\n")
        os.replace(tmp, model_dir / ACTIVE_NAME)
        _fsync_dir(model_dir)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _log.info("published index version %s/%s", model_id, version)


def active_version(indexes_dir: str | Path, model_id: str) -> str | None:
    """The published version's name, or None when nothing was published."""
    try:
        text = (_model_dir(indexes_dir, model_id) / ACTIVE_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    name = text.strip()
    return name or None


def _read_meta(path: Path) -> IndexMeta:
    try:
        return IndexMeta.from_json((path / META_NAME).read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path / META_NAME}: {e}") from e


def list_versions(indexes_dir: str | Path, model_id: str) -> list[VersionInfo]:
    """The complete versions of ``model_id``, oldest first (by name); in-progress and deleted ones are skipped."""
    model_dir = _model_dir(indexes_dir, model_id)
    active = active_version(indexes_dir, model_id)
    out = []
    for path in _version_dirs(model_dir):
        try:
            meta = _read_meta(path)
        except (OSError, ValueError) as e:
            _log.warning("unreadable %s: %s", path / META_NAME, e)
            meta = None
        try:
            size = sum(f.stat().st_size for f in (path / INDEX_NAME, path / META_NAME))
        except FileNotFoundError:  # deleted meanwhile
            continue
        out.append(VersionInfo(name=path.name, path=path, meta=meta, published=path.name == active, size_bytes=size))
    return out


def prune(indexes_dir: str | Path, model_id: str, *, keep: int = 1, tmp_grace_s: float = 600.0) -> list[str]:
    """Delete all but the newest ``keep`` versions (never the published one) and leftovers of killed writes.

    Args:
        indexes_dir: The workspace's ``indexes/`` folder.
        model_id: Whose versions.
        keep: Newest versions to keep besides the published one (>= 0).
        tmp_grace_s: ``.tmp-*`` directories younger than this may belong to a build still writing; they stay.

    Returns:
        Names of the deleted versions and leftovers.
    """
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    model_dir = _model_dir(indexes_dir, model_id)
    if not model_dir.is_dir():
        return []
    active = active_version(indexes_dir, model_id)
    versions = [p.name for p in _version_dirs(model_dir)]
    kept = set(versions[len(versions) - keep :] if keep else [])
    if active is not None:
        kept.add(active)
    deleted = []
    for name in versions:
        if name in kept:
            continue
        doomed = model_dir / f"{_DEL_PREFIX}{name}-{secrets.token_hex(3)}"
        try:
            os.rename(model_dir / name, doomed)  # disappears from readers at once, then is deleted at leisure
        except FileNotFoundError:
            continue
        shutil.rmtree(doomed, ignore_errors=True)
        deleted.append(name)
    now = time.time()
    for path in model_dir.iterdir():
        name = path.name
        stale = now - path.stat().st_mtime > tmp_grace_s
        if name.startswith(_DEL_PREFIX) or (name.startswith((_TMP_PREFIX, _ACTIVE_TMP_PREFIX)) and stale):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            deleted.append(name)
    if deleted:
        _log.info("pruned %s: %s", model_id, ", ".join(deleted))
    return deleted


# ---------------------------------------------------------------------------------------------------------------
# load and hot-swap


def _missing_model_message(indexes_dir: Path, model_id: str) -> str:
    others = sorted(p.name for p in indexes_dir.iterdir() if p.is_dir()) if indexes_dir.is_dir() else []
    msg = f"no index for model {model_id!r} under {indexes_dir}"
    if others:
        msg += f"; indexes exist for {others} (built from another model's vectors)"
    return msg + f"; build one with `{REBUILD_COMMAND}`"


def load_index(
    indexes_dir: str | Path,
    model_id: str,
    version: str | None = None,
    *,
    expected_model_id: str | None = None,
) -> LoadedIndex:
    """Read a version of ``model_id``'s index (the published one by default) and apply its tuned search params.

    Args:
        indexes_dir: The workspace's ``indexes/`` folder.
        model_id: The model whose index to load.
        version: A version name; None: the one ``ACTIVE`` names.
        expected_model_id: The query encoder's model id; defaults to ``model_id``. It must equal the id recorded in
            ``meta.json``.

    Raises:
        FileNotFoundError: no index for the model, nothing published, or the version is missing.
        ModelMismatchError: the index holds vectors of another model than ``expected_model_id``.
        ValueError: ``meta.json`` is unreadable or does not describe ``index.faiss``.
    """
    model_dir = _model_dir(indexes_dir, model_id)
    expected = expected_model_id or model_id
    if not model_dir.is_dir():
        raise FileNotFoundError(_missing_model_message(Path(indexes_dir), model_id))
    for attempt in range(3):
        name = version or active_version(indexes_dir, model_id)
        if name is None:
            names = [p.name for p in _version_dirs(model_dir)]
            raise FileNotFoundError(
                f"no published index version for model {model_id!r} in {model_dir} (versions: {names}); "
                f"publish one or run `{REBUILD_COMMAND}`"
            )
        path = model_dir / _check_name(name, "version")
        try:
            meta = _read_meta(path)
            if meta.model_id != expected:
                raise ModelMismatchError(
                    f"index {path} holds vectors of model {meta.model_id!r} but queries come from model "
                    f"{expected!r}; rebuild the index for {expected!r} with `{REBUILD_COMMAND}`"
                )
            index = faiss.read_index(str(path / INDEX_NAME))
            break
        except FileNotFoundError as e:
            # The published version can be pruned between reading ACTIVE and reading the files: read ACTIVE again.
            if version is not None or attempt == 2 or active_version(indexes_dir, model_id) == name:
                raise FileNotFoundError(f"index version {path} is missing or incomplete: {e}") from e
        except RuntimeError as e:  # FAISS read errors
            raise ValueError(f"cannot read {path / INDEX_NAME}: {e}") from e
    if index.d != meta.dim or index.ntotal != meta.n:
        raise ValueError(f"{path}: meta.json says dim={meta.dim}, n={meta.n}; index.faiss: {index.d}, {index.ntotal}")
    apply_search_params(index, meta.search_params)
    _log.info("loaded index %s/%s: %d vectors, %s", model_id, name, index.ntotal, meta.factory)
    return LoadedIndex(index=index, meta=meta, version=name, path=path)


class LiveIndex:
    """The published index of a model for a long-running searcher, swapped for a newly published one without a restart.

    Each ``search`` first checks, at most every ``check_interval_s``, whether ``ACTIVE`` changed (one ``stat`` of a
    tiny file; ``os.replace`` gives it a new inode on every publish). On a change the new version is loaded by the
    calling thread while the others keep searching the old one, then swapped in under a lock. A search in flight
    holds its own reference and finishes on the version it started with; the old index is freed after the last
    one. A new version that fails to load (e.g. deleted, corrupt, another model) is logged and the old one kept.
    Both indexes are in memory during a swap.

    Args:
        indexes_dir: The workspace's ``indexes/`` folder.
        model_id: The model whose published index to serve.
        expected_model_id: The query encoder's model id (see ``load_index``).
        check_interval_s: Minimum seconds between two checks of ``ACTIVE``; 0 checks on every search.
    """

    def __init__(
        self,
        indexes_dir: str | Path,
        model_id: str,
        *,
        expected_model_id: str | None = None,
        check_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if check_interval_s < 0:
            raise ValueError(f"check_interval_s must be >= 0, got {check_interval_s}")
        self._dir = Path(indexes_dir)
        self._model_id = model_id
        self._expected = expected_model_id
        self._interval = check_interval_s
        self._clock = clock
        self._swap_lock = threading.Lock()  # guards _current / _stamp
        self._load_lock = threading.Lock()  # one loader at a time; the others keep searching
        self._active_path = _model_dir(indexes_dir, model_id) / ACTIVE_NAME
        stamp = self._stat()
        self._current = load_index(self._dir, model_id, expected_model_id=expected_model_id)
        self._stamp = stamp
        self._last_check = clock()
        self.swaps = 0  # how many times a new version was swapped in

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._active_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    @property
    def current(self) -> LoadedIndex:
        """The version searches use now."""
        with self._swap_lock:
            return self._current

    @property
    def version(self) -> str:
        """Name of the version searches use now."""
        return self.current.version

    def refresh(self, *, force: bool = False) -> bool:
        """Swap in the published version if ``ACTIVE`` changed since the last check.

        Args:
            force: Check now, ignoring ``check_interval_s``.

        Returns:
            Whether a new version was swapped in.
        """
        now = self._clock()
        if not force and now - self._last_check < self._interval:
            return False
        if not self._load_lock.acquire(blocking=force):
            return False  # another thread is loading; keep serving the current version meanwhile
        try:
            self._last_check = now
            stamp = self._stat()
            if stamp == self._stamp or stamp is None:
                return False
            name = active_version(self._dir, self._model_id)
            if name is None or name == self._current.version:
                self._stamp = stamp
                return False
            try:
                loaded = load_index(self._dir, self._model_id, name, expected_model_id=self._expected)
            except (OSError, ValueError) as e:
                self._stamp = stamp  # retried when ACTIVE changes again, not on every search
                _log.error(
                    "keeping index %s/%s: cannot load newly published %s: %s",
                    self._model_id,
                    self._current.version,
                    name,
                    e,
                )
                return False
            with self._swap_lock:
                old, self._current, self._stamp = self._current.version, loaded, stamp
                self.swaps += 1
            _log.info("swapped index %s: %s -> %s", self._model_id, old, loaded.version)
            return True
        finally:
            self._load_lock.release()

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        params: SearchParams | None = None,
        allowed_ids: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``faiss_index.search`` on the published version (checking for a newer one first, see the class)."""
        self.refresh()
        loaded = self.current  # our own reference: a swap during the search does not affect it
        return search(loaded.index, queries, k, params=params, allowed_ids=allowed_ids)

"""The search service: one object holding one ``Searcher`` (one model load) that the JSON API and the app share.

``SearchService`` validates every input a caller controls (query, ``k``, ``offset``, filters, channels, clip ids,
catalog paths, uploaded zips) and raises ``ServiceError`` subclasses that carry an HTTP status and a message a
user can act on; ``adsearch.api`` turns them into JSON errors and the app into an error box. The searcher is
opened once (on ``warm()`` or the first search) and kept: a newly published index version and catalog changes
reach it without a rebuild (``indexer.versions.LiveIndex`` and ``indexer.catalog_snapshot``). Searches run in the
callers' threads in parallel, without a lock (the searcher is thread-safe), each FAISS and onnxruntime call on one
thread of its own: 8 concurrent requests on 2 cores share the cores instead of queueing. Catalog additions
run as background jobs, one at a time, in a worker thread of this process.

Served files: only clip thumbnails (from the workspace's ``thumbs/``) and clip segments cut from the catalog's
videos into the service's scratch folder; ``thumb_file`` and ``clip_file`` look the clip up in the catalog and
never take a path from the caller.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adsearch.defaults import DEFAULT_K, DEFAULT_RETRIEVER
from adsearch.workspace import Workspace

__all__ = [
    "VISUAL_CHANNELS",
    "BadRequest",
    "Conflict",
    "Job",
    "Limits",
    "NotFound",
    "SearchPage",
    "SearchService",
    "ServiceError",
    "Unavailable",
]

_log = logging.getLogger(__name__)

VISUAL_CHANNELS = ("visual",)  # what a Searcher without channel support searches
_WARM_QUERY = "a person holding a product"  # warm-up search text (any text: it runs every channel once)


class ServiceError(Exception):
    """An input or state the service refuses; ``status`` is the HTTP status the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    """A malformed or out-of-bounds input."""


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class Unavailable(ServiceError):
    """The workspace cannot answer yet (no catalog, no published index, no retriever)."""

    status, code = 503, "unavailable"


@dataclass(frozen=True)
class Limits:
    """Bounds on what a caller controls."""

    max_k: int = 100  # hits per page
    max_window: int = 1000  # offset + k
    max_filter_values: int = 50  # values per filter field
    max_filter_chars: int = 200  # characters per filter value
    max_channels: int = 8
    max_zip_files: int = 2000  # entries in an uploaded zip
    max_zip_bytes: int = 2 * 1024**3  # uncompressed bytes of an uploaded zip
    max_jobs_kept: int = 100  # finished jobs remembered for GET /jobs/{id}


@dataclass
class SearchPage:
    """One page of results and what produced it."""

    query: str
    k: int
    offset: int
    hits: list[Any]  # indexer.search.Hit, ranks counted from 1 over the whole result list
    has_more: bool
    model_id: str
    index_version: str
    channels: list[str]
    took_ms: float
    filters: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Job:
    """A background catalog addition."""

    id: str
    source: str
    catalog: str | None
    state: str = "queued"  # queued -> running -> done | failed
    stage: str = ""
    stages: tuple[str, ...] = ("ingest", "caption", "embed + index")
    progress: float = 0.0  # finished stages / stages
    summary: str = ""
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON-ready data."""
        return dataclasses.asdict(self)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _check_text(value: str, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid text (it holds a lone surrogate or undecodable bytes)") from None
    if "\x00" in value:
        raise BadRequest(f"{what} holds a NUL character")
    return value


class SearchService:
    """Search, clip look-ups, index status and catalog jobs over one workspace, for the API and the app.

    Args:
        ws: The workspace.
        model: Retriever checkpoint name under ``models/`` (or its folder).
        searcher_factory: Returns the ``Searcher``; default ``adsearch.index.open_searcher(ws, model=model)``.
            Called once; again only while it fails (no index yet).
        ingest_roots: Folders ``add_catalog`` may read from (default: ``<workspace>/catalogs``); uploaded zips are
            extracted into the service's own folder, which is always allowed.
        limits: Bounds on caller inputs.
    """

    def __init__(
        self,
        ws: Workspace,
        *,
        model: str = DEFAULT_RETRIEVER,
        searcher_factory: Callable[[], Any] | None = None,
        ingest_roots: Sequence[str | Path] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.ws = ws
        self.model = model
        self.limits = limits or Limits()
        self._factory = searcher_factory or self._open_searcher
        self._searcher: Any = None
        self._warmed = False
        self._channel_support: tuple[Any, bool] | None = None
        self._open_lock = threading.Lock()
        self._thread_state = threading.local()
        self._media_lock = threading.Lock()
        self.scratch = Path(tempfile.mkdtemp(prefix="adsearch-serve-"))
        self.uploads = self.scratch / "uploads"
        roots = ingest_roots if ingest_roots is not None else [ws.catalogs_dir]
        self.ingest_roots = [Path(r).expanduser().resolve() for r in roots]
        self._jobs: dict[str, Job] = {}
        self._jobs_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adsearch-job")
        self._started = time.time()
        self._catalog_listeners: list[Callable[[], None]] = []

    # --- the searcher ------------------------------------------------------------------------------------------
    def _open_searcher(self) -> Any:
        from adsearch.index import open_searcher

        # Searches run in parallel request threads, each on one core: one thread per onnxruntime call (its pool
        # threads spin between ops, taking cores from the other searches; measured in docs/experiments.md), and
        # one per FAISS call (``_one_omp_thread``).
        return open_searcher(self.ws, model=self.model, onnx_threads=1)

    def _one_omp_thread(self) -> None:
        """FAISS searches of this thread on one OpenMP thread. OpenMP's thread count is a per-thread setting (a
        new thread starts from the process default, one per core), so each request thread sets it once."""
        if not getattr(self._thread_state, "omp_one", False):
            import faiss

            faiss.omp_set_num_threads(1)
            self._thread_state.omp_one = True

    def searcher(self) -> Any:
        """The service's one ``Searcher``, opened on first use.

        Raises:
            Unavailable: no catalog, retriever or published index yet (the message names the command to run).
        """
        if self._searcher is not None:
            return self._searcher
        with self._open_lock:
            if self._searcher is None:
                try:
                    self._searcher = self._factory()
                except (FileNotFoundError, ValueError) as e:
                    raise Unavailable(str(e)) from e
            return self._searcher

    def warm(self) -> str | None:
        """Open the searcher now (loads the model once) and run one search through every channel, so that the first
        requests do not pay for first runs (the encoder's, each index's, the snippet units' loads); returns why it
        cannot search yet, or None."""
        try:
            searcher = self.searcher()
        except Unavailable as e:
            return e.message
        if not self._warmed:
            self._warmed = True
            self._one_omp_thread()
            try:
                searcher.search(_WARM_QUERY, k=DEFAULT_K)
            except Exception as e:  # best effort: a search that fails shows its error on the first request
                _log.warning("warm-up search failed: %s", e)
        return None

    def _supports_channels(self, searcher: Any) -> bool:
        known = self._channel_support
        if known is not None and known[0] is searcher:
            return known[1]
        try:
            supports = "channels" in inspect.signature(searcher.search).parameters
        except (TypeError, ValueError):
            supports = False
        self._channel_support = (searcher, supports)  # inspect.signature costs more than a fused search's fusion
        return supports

    # --- search ------------------------------------------------------------------------------------------------
    def filter_choices(self) -> dict[str, list[str]]:
        """Known values of each filter field over searchable clips (empty lists when nothing is searchable)."""
        try:
            return self.searcher().filter_values()
        except Unavailable:
            return {}

    def check_filters(self, filters: Any) -> dict[str, list[str]]:
        """Filters as ``{field: [values]}``; every field and value must be known to the catalog.

        Raises:
            BadRequest: not a mapping, an unknown field, a value that is not a string, too many or too long
                values, or a value no searchable clip has.
        """
        from indexer.search import FILTER_FIELDS

        if filters is None:
            return {}
        if not isinstance(filters, dict):
            raise BadRequest(f"filters is an object of field -> value(s), got {type(filters).__name__}")
        unknown = sorted(str(k) for k in filters if k not in FILTER_FIELDS)
        if unknown:
            raise BadRequest(f"unknown filter field(s) {unknown}; valid: {', '.join(FILTER_FIELDS)}")
        out: dict[str, list[str]] = {}
        for name, value in filters.items():
            if value is None or value == "" or value == []:
                continue
            values = [value] if _is_str(value) else value
            if not isinstance(values, list) or not all(_is_str(v) for v in values):
                raise BadRequest(f"filter {name} takes a string or a list of strings")
            if len(values) > self.limits.max_filter_values:
                raise BadRequest(
                    f"filter {name} has {len(values)} values; the limit is {self.limits.max_filter_values}"
                )
            for v in values:
                _check_text(v, f"filter {name}")
                if len(v) > self.limits.max_filter_chars:
                    raise BadRequest(
                        f"a {name} value has {len(v)} characters; the limit is {self.limits.max_filter_chars}"
                    )
            out[name] = list(dict.fromkeys(values))
        if out:
            known = self.searcher().filter_values()
            for name, values in out.items():
                missing = [v for v in values if v not in set(known.get(name, []))]
                if missing:
                    some = known.get(name, [])
                    listed = ", ".join(some[:20]) + (f" … ({len(some)} in all)" if len(some) > 20 else "")
                    raise BadRequest(f"unknown {name} {missing[0]!r}; known values: {listed or 'none'}")
        return out

    def check_channels(self, channels: Any, searcher: Any) -> list[str] | None:
        """The requested channels, checked against what the searcher offers (None: the searcher's default)."""
        if channels is None:
            return None
        if not isinstance(channels, list) or not all(_is_str(c) for c in channels):
            raise BadRequest('channels is a list of channel names, e.g. ["visual"]')
        if not channels:
            raise BadRequest("channels is empty; leave it out to search every channel")
        if len(channels) > self.limits.max_channels:
            raise BadRequest(f"{len(channels)} channels; the limit is {self.limits.max_channels}")
        try:
            from indexer.channels import CHANNELS as known
        except ImportError:  # a searcher without text channels
            known = VISUAL_CHANNELS
        if not self._supports_channels(searcher):
            known = VISUAL_CHANNELS
        if known is not None:
            bad = [c for c in channels if c not in known]
            if bad:
                raise BadRequest(f"unknown channel(s) {bad}; available: {', '.join(known)}")
        return list(dict.fromkeys(channels))

    def check_k(self, k: Any, offset: Any = 0) -> tuple[int, int]:
        """``(k, offset)`` as ints within the limits.

        Raises:
            BadRequest: not integers, k < 1, offset < 0, k above ``max_k`` or offset + k above ``max_window``.
        """
        lim = self.limits
        for name, value in (("k", k), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadRequest(f"{name} must be an integer, got {value!r:.40}")
        if not 1 <= k <= lim.max_k:
            raise BadRequest(f"k must be between 1 and {lim.max_k}, got {k}")
        if offset < 0:
            raise BadRequest(f"offset must be 0 or more, got {offset}")
        if offset + k > lim.max_window:
            raise BadRequest(f"offset + k is {offset + k}; results are paged up to {lim.max_window}")
        return k, offset

    def check_query(self, query: Any) -> str:
        """The query text, stripped.

        Raises:
            BadRequest: not a string, empty, invalid text or too long.
        """
        from indexer.search import QueryError, check_query

        if not _is_str(query):
            raise BadRequest(f"query is a string, got {type(query).__name__}")
        _check_text(query, "the query")
        try:
            return check_query(query)
        except QueryError as e:
            raise BadRequest(str(e)) from None

    def search(
        self,
        query: Any,
        *,
        k: Any = DEFAULT_K,
        offset: Any = 0,
        filters: Any = None,
        channels: Any = None,
    ) -> SearchPage:
        """One page of hits for a text query (hits ``offset + 1`` to ``offset + k`` of the ranked list).

        Raises:
            BadRequest: a bad query, k, offset, filter or channel.
            Unavailable: nothing to search yet.
        """
        from indexer.search import Filters, QueryError

        text = self.check_query(query)
        k, offset = self.check_k(k, offset)
        searcher = self.searcher()
        active = self.check_filters(filters)
        chosen = self.check_channels(channels, searcher)
        kwargs: dict[str, Any] = {}
        if chosen is not None and self._supports_channels(searcher):
            kwargs["channels"] = chosen
        self._one_omp_thread()
        t0 = time.perf_counter()
        try:  # no lock: the searcher is thread-safe, searches run in parallel (adsearch.index.open_searcher)
            hits = searcher.search(text, k=offset + k + 1, filters=Filters(**active), **kwargs)
        except (QueryError, ValueError, TypeError) as e:  # e.g. a channel the searcher refuses
            raise BadRequest(str(e)) from None
        version = searcher.version
        took = 1000 * (time.perf_counter() - t0)
        return SearchPage(
            query=text,
            k=k,
            offset=offset,
            hits=list(hits[offset : offset + k]),
            has_more=len(hits) > offset + k,
            model_id=searcher.model_id,
            index_version=version,
            channels=chosen or (list(VISUAL_CHANNELS) if not self._supports_channels(searcher) else ["(default)"]),
            took_ms=took,
            filters=active,
        )

    # --- clips and media ---------------------------------------------------------------------------------------
    def _clip_row(self, clip_id: Any) -> dict[str, Any]:
        if isinstance(clip_id, bool) or not isinstance(clip_id, int) or not 0 <= clip_id < 2**63:
            raise BadRequest(f"a clip id is a non-negative 64-bit integer, got {clip_id!r:.40}")
        cur = self.searcher().catalog_cursor()
        res = cur.execute(
            "SELECT c.clip_id, c.video_id, v.catalog_id, v.path, v.uri, c.start_s, c.end_s, c.thumb, v.industry, "
            "v.sub_industry, v.product, v.game, v.split, cat.retired FROM clips c JOIN videos v USING (video_id) "
            "JOIN catalogs cat USING (catalog_id) WHERE c.clip_id = ?",
            [clip_id],
        )
        names = [d[0] for d in res.description]
        row = res.fetchone()
        if row is None:
            raise NotFound(f"no clip {clip_id} among the searchable clips")
        out = dict(zip(names, row, strict=True))
        out["texts"] = {}
        for kind, text in cur.execute(
            "SELECT kind, text FROM texts WHERE clip_id = ? ORDER BY kind, (source = 'manifest') DESC, created_at, "
            "source",
            [clip_id],
        ).fetchall():
            out["texts"][kind] = text  # per kind: a generated text before the manifest's, the newest last
        return out

    def clip(self, clip_id: Any) -> dict[str, Any]:
        """A clip's catalog, video, time range, labels and texts (JSON-ready; no server paths).

        Raises:
            BadRequest: not a clip id. NotFound: no such searchable clip.
        """
        row = self._clip_row(clip_id)
        return {
            "clip_id": row["clip_id"],
            "video_id": row["video_id"],
            "catalog_id": row["catalog_id"],
            "retired": bool(row["retired"]),
            "uri": row["uri"],
            "start_s": float(row["start_s"]),
            "end_s": float(row["end_s"]),
            "labels": {k: row[k] for k in ("industry", "sub_industry", "product", "game", "split")},
            "texts": row["texts"],
        }

    def thumb_file(self, clip_id: Any) -> Path:
        """The clip's thumbnail jpg: its file under ``thumbs/``, else its middle frame written to the scratch
        folder.

        Raises:
            NotFound: no such clip. Unavailable: its video cannot be read.
        """
        row = self._clip_row(clip_id)
        thumbs = self.ws.thumbs_dir.resolve()
        if row["thumb"]:
            path = (self.ws.root / row["thumb"]).resolve()
            if path.is_file() and path.is_relative_to(thumbs) and path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                return path
        out = self.scratch / "stills" / f"{row['clip_id']}.jpg"
        with self._media_lock:
            if not out.is_file():
                from PIL import Image

                from media import sample_frames

                frame = self._decode(lambda: sample_frames(row["path"], row["start_s"], row["end_s"], n=1, size=None))
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_suffix(".tmp.jpg")
                Image.fromarray(frame[0]).save(tmp, quality=85)
                tmp.replace(out)
        return out

    def clip_file(self, clip_id: Any) -> Path:
        """The clip's segment as an h264 mp4 in the scratch folder (cut once, then reused).

        Raises:
            NotFound: no such clip. Unavailable: its video cannot be read.
        """
        from adsearch.app_views import cut_segment

        row = self._clip_row(clip_id)
        out = self.scratch / "clips" / f"{row['clip_id']}.mp4"
        with self._media_lock:
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_suffix(".tmp.mp4")
                self._decode(lambda: cut_segment(row["path"], row["start_s"], row["end_s"], tmp))
                tmp.replace(out)
        return out

    @staticmethod
    def _decode(fn: Callable[[], Any]) -> Any:
        from media import MediaError

        try:
            return fn()
        except (MediaError, OSError) as e:
            raise Unavailable(f"the clip's video cannot be read: {e}") from e

    # --- index and health --------------------------------------------------------------------------------------
    def index_info(self) -> dict[str, Any]:
        """The model's index versions, the published one, and (when the catalog is readable) coverage counts."""
        from adsearch.index import status

        searcher_version = None
        if self._searcher is not None:
            searcher_version = self._searcher.version
        try:
            st = status(self.ws, model=self.model)
        except (FileNotFoundError, ValueError, OSError) as e:
            return {"model": self.model, "available": False, "message": str(e), "searcher_version": searcher_version}
        except Exception as e:
            return {
                "model": self.model,
                "available": False,
                "message": f"catalog busy: {e}",
                "searcher_version": searcher_version,
            }
        versions = []
        for v in st.versions:
            m = v.meta
            versions.append(
                {
                    "name": v.name,
                    "published": v.published,
                    "size_bytes": v.size_bytes,
                    "n": m.n if m else None,
                    "factory": m.factory if m else None,
                    "recall_at_10": _finite(m.recall_at_10) if m else None,
                    "created_at": m.created_at if m else None,
                }
            )
        return {
            "model": self.model,
            "model_id": st.model_id,
            "available": st.published is not None,
            "published": st.published,
            "searcher_version": searcher_version,
            "clips": {
                "searchable": st.indexable,
                "embedded": st.embedded,
                "not_embedded": st.not_embedded,
                "not_indexed": st.not_indexed,
            },
            "retired_catalogs": list(st.retired),
            "versions": versions,
        }

    def health(self) -> dict[str, Any]:
        """Liveness and readiness: whether a search can run now, and on which index version."""
        why = self.warm()
        with self._jobs_lock:
            running = sum(1 for j in self._jobs.values() if j.state in ("queued", "running"))
        out: dict[str, Any] = {
            "status": "ok" if why is None else "no_index",
            "ready": why is None,
            "uptime_s": round(time.time() - self._started, 1),
            "jobs_active": running,
        }
        if why is None:
            out["model_id"] = self._searcher.model_id
            out["index_version"] = self._searcher.version
        else:
            out["message"] = why
        return out

    # --- catalog jobs ------------------------------------------------------------------------------------------
    def check_ingest_path(self, path: Any) -> Path:
        """A manifest or video folder inside the ingest roots (or the service's upload folder).

        Raises:
            BadRequest: empty, not a string, or outside the roots. NotFound: nothing there.
        """
        if not _is_str(path) or not path.strip():
            raise BadRequest("give a manifest path (.jsonl / .csv / .parquet) or a folder of videos on the server")
        _check_text(path, "the path")
        if len(path) > 4096:
            raise BadRequest("the path is longer than 4096 characters")
        resolved = Path(path.strip()).expanduser().resolve()
        roots = [*self.ingest_roots, self.uploads.resolve()]
        if not any(resolved.is_relative_to(r) for r in roots):
            listed = ", ".join(str(r) for r in self.ingest_roots) or "(none)"
            raise BadRequest(
                f"{path.strip()} is outside the folders this server ingests from ({listed}); put the catalog "
                "there, or start `adsearch serve` with --ingest-root"
            )
        if not resolved.exists():
            raise NotFound(f"{path.strip()} does not exist; give a manifest path or a folder of videos")
        return resolved

    def source_from_zip(self, zip_path: str | Path) -> Path:
        """Unpack an uploaded zip (within the entry and size limits) into the upload folder; returns its manifest,
        or the folder when it holds none.

        Raises:
            BadRequest: not a zip, too many entries, too large uncompressed, or several manifests.
        """
        from adsearch.app_catalog import source_from_zip

        try:
            return source_from_zip(
                zip_path, self.uploads, max_files=self.limits.max_zip_files, max_bytes=self.limits.max_zip_bytes
            )
        except ValueError as e:
            raise BadRequest(str(e)) from None

    def on_catalog_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each finished catalog job (e.g. to refresh the app's filter choices)."""
        self._catalog_listeners.append(listener)

    def submit_catalog(self, path: Any = None, *, zip_path: str | Path | None = None, catalog: Any = None) -> Job:
        """Start adding a catalog (ingest -> caption -> embed -> index add) in the background; returns its job.

        Raises:
            BadRequest / NotFound: a bad path, zip or catalog name (checked before the job starts).
        """
        if catalog is not None:
            if not _is_str(catalog) or not catalog.strip() or len(catalog) > 200:
                raise BadRequest("catalog is a name of 1 to 200 characters")
            _check_text(catalog, "the catalog name")
        source = self.source_from_zip(zip_path) if zip_path else self.check_ingest_path(path)
        job = Job(id=uuid.uuid4().hex[:12], source=str(source), catalog=catalog)
        with self._jobs_lock:
            self._jobs[job.id] = job
            done = [j for j in self._jobs.values() if j.state in ("done", "failed")]
            for old in sorted(done, key=lambda j: j.created_at)[: max(0, len(done) - self.limits.max_jobs_kept)]:
                del self._jobs[old.id]
        self._executor.submit(self._run_job, job, source)
        return job

    def _run_job(self, job: Job, source: Path) -> None:
        from adsearch.app_catalog import add_catalog

        def on_stage(name: str, index: int) -> None:
            job.stage, job.progress = name, index / len(job.stages)

        job.state, job.started_at = "running", time.time()
        try:
            job.summary = add_catalog(
                self.ws,
                path=str(source),
                zip_path=None,
                model=self.model,
                workdir=self.scratch,
                catalog_id=job.catalog,
                on_stage=on_stage,
            )
            job.state, job.progress, job.stage = "done", 1.0, "done"
        except Exception as e:
            _log.warning("catalog job %s failed", job.id, exc_info=True)
            job.state, job.error = "failed", f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)
        finally:
            job.finished_at = time.time()
        for listener in list(self._catalog_listeners):
            try:
                listener()
            except Exception:
                _log.warning("catalog listener failed", exc_info=True)

    def job(self, job_id: Any) -> Job:
        """A job by id.

        Raises:
            NotFound: no such job (or forgotten: the newest ``max_jobs_kept`` finished jobs are kept).
        """
        with self._jobs_lock:
            job = self._jobs.get(job_id) if _is_str(job_id) else None
        if job is None:
            raise NotFound(f"no job {job_id!r:.40}")
        return job

    def wait_job(self, job_id: str, timeout_s: float = 3600.0, poll_s: float = 0.2) -> Job:
        """Block until the job finishes (or ``timeout_s`` passes); returns it."""
        deadline = time.monotonic() + timeout_s
        job = self.job(job_id)
        while job.state in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(poll_s)
        return job

    def close(self) -> None:
        """Stop taking jobs (waits for a running one) and delete the scratch folder."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _finite(value: Any) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)

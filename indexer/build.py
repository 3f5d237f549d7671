"""Index versions from the catalog and the vector store: build, add new catalogs, retire a catalog, status, prune.

Each build or add writes a new version directory and publishes it (``indexer.versions``), then records it in the
catalog's ``index_versions`` table (one row per version, ``published`` true for the one ``ACTIVE`` names). The
index holds the embedded clips of ok videos of catalogs that are not retired.

``add`` updates the published index in place of a rebuild when it can: the index type stays the one
``choose_factory`` picks for the new size (or the factory was forced at build time), and, when clips of retired
catalogs must leave it, the type supports removal. Otherwise, and when no index exists for the model (a new or
retrained retriever has a new model id), it rebuilds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from indexer._layers import Layers
from indexer.catalog import Catalog
from indexer.faiss_index import (
    SearchParams,
    add_to_index,
    build_index,
    choose_factory,
    index_ids,
    remove_from_index,
    supports_remove,
)
from indexer.tuning import tune_search_params
from indexer.vectors import VectorStore
from indexer.versions import (
    IndexMeta,
    LoadedIndex,
    VersionInfo,
    active_version,
    list_versions,
    load_index,
    prune,
    publish,
    write_version,
)

__all__ = [
    "BuildResult",
    "IndexStatus",
    "add_index_version",
    "build_index_version",
    "index_status",
    "indexable_clip_ids",
    "prune_versions",
    "retire_catalog",
]

_log = logging.getLogger(__name__)

_INDEXABLE_SQL = (
    "SELECT c.clip_id FROM clips c JOIN videos v USING (video_id) "
    "WHERE v.status = 'ok' AND v.catalog_id NOT IN (SELECT catalog_id FROM catalogs WHERE retired) ORDER BY 1"
)


@dataclass(frozen=True)
class BuildResult:
    """What ``build_index_version`` / ``add_index_version`` published."""

    mode: str  # 'build', 'add' or 'unchanged'
    version: str  # the published version
    n: int  # vectors in it
    factory: str
    recall_at_10: float
    seconds: float
    added: int = 0  # vectors added to the previous version ('add')
    removed: int = 0  # vectors of retired catalogs removed from it ('add')
    reason: str = ""  # why an add rebuilt

    def line(self) -> str:
        """One human line for the CLI."""
        what = {
            "build": f"built {self.n} vectors",
            "add": f"added {self.added}, removed {self.removed} ({self.n} vectors)",
            "unchanged": f"nothing to add ({self.n} vectors)",
        }[self.mode]
        why = f" [rebuilt: {self.reason}]" if self.reason else ""
        return (
            f"index {self.mode}: {what}, {self.factory}, recall@10 {self.recall_at_10:.3f}, "
            f"version {self.version} in {self.seconds:.2f} s{why}"
        )


@dataclass(frozen=True)
class IndexStatus:
    """The state of one model's index against the catalog."""

    model_id: str
    published: str | None  # version ACTIVE names
    versions: list[VersionInfo]
    indexable: int  # clips of ok videos in catalogs that are not retired
    embedded: int  # of those, clips with a vector in the store
    not_embedded: int  # indexable clips without a vector (run embed)
    not_indexed: int  # indexable clips missing from the published index (run index add)
    retired: list[str]  # retired catalogs


def indexable_clip_ids(cat: Catalog) -> np.ndarray:
    """Clip ids of ok videos in catalogs that are not retired (int64, sorted)."""
    rows = cat.con.execute(_INDEXABLE_SQL).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def _snapshot(cat: Catalog, n: int) -> str:
    live = cat.con.execute("SELECT catalog_id FROM catalogs WHERE NOT retired ORDER BY 1").fetchall()
    return f"{n} clips of catalogs {','.join(r[0] for r in live)}"


def _record(cat: Catalog, meta: IndexMeta, path: str) -> None:
    cat.con.execute("BEGIN TRANSACTION")
    try:
        cat.con.execute("UPDATE index_versions SET published = FALSE WHERE model_id = ?", [meta.model_id])
        cat.con.execute(
            "INSERT OR REPLACE INTO index_versions (model_id, version, path, factory, n, recall_at_10, published) "
            "VALUES (?, ?, ?, ?, ?, ?, TRUE)",
            [meta.model_id, meta.version, path, meta.factory, meta.n, meta.recall_at_10],
        )
        cat.con.execute("COMMIT")
    except Exception:
        cat.con.execute("ROLLBACK")
        raise


QueryVectors = Callable[[], np.ndarray]  # held-out query vectors for tuning, computed only when an index needs tuning


def _tune(index, ids: np.ndarray, vectors: np.ndarray, progress: bool, queries: QueryVectors | None) -> SearchParams:
    if Layers.of(index).exact:
        return SearchParams(recall_at_10=1.0)
    q = queries() if queries is not None else None
    if q is not None and len(q) == 0:
        q = None  # no held-out queries available: perturbed copies of indexed vectors stand in
    return tune_search_params(index, vectors, ids=ids, queries=q, progress=progress)


def _publish(
    cat: Catalog, indexes_dir, index, *, model_id: str, factory: str, params: SearchParams, t0: float, extra: dict
) -> IndexMeta:
    meta = IndexMeta.for_index(
        index,
        model_id=model_id,
        factory=factory,
        params=params,
        catalog_snapshot=_snapshot(cat, int(index.ntotal)),
        build_seconds=time.perf_counter() - t0,
        extra=extra,
    )
    path = write_version(indexes_dir, index, meta)
    publish(indexes_dir, model_id, path.name)
    meta = IndexMeta.from_json((path / "meta.json").read_text(encoding="utf-8"))
    _record(cat, meta, str(path))
    return meta


def _wanted(cat: Catalog, store: VectorStore) -> tuple[np.ndarray, np.ndarray]:
    ids, vectors = store.load(indexable_clip_ids(cat))
    if ids.size == 0:
        raise ValueError(
            f"no embedded clips to index for model {store.model_id} (vectors in {store.path}); "
            "run `adsearch embed` first"
        )
    return ids, vectors


def build_index_version(
    cat: Catalog,
    store: VectorStore,
    indexes_dir,
    *,
    factory: str | None = None,
    use_gpu: bool | None = None,
    progress: bool = False,
    reason: str = "",
    tuning_queries: QueryVectors | None = None,
) -> BuildResult:
    """Build an index over the store's vectors of indexable clips, tune it, write and publish a new version.

    Args:
        cat: The catalog (read-write: the version is recorded in ``index_versions``).
        store: The model's vectors.
        indexes_dir: The workspace's ``indexes/``.
        factory: A FAISS factory string to force; None: ``choose_factory`` by size (remembered, so ``add`` keeps a
            forced type).
        use_gpu: GPU FAISS for training / adding (None: when present).
        progress: Progress bars.
        reason: Why this build happens (set by ``add_index_version`` when it falls back to a rebuild).
        tuning_queries: Returns held-out query vectors (e.g. embedded catalog texts) that nprobe / efSearch are
            tuned on to reach recall@10 >= 0.95 against exact search; called only for approximate index types.
            None: perturbed copies of indexed vectors (``tuning.perturbed_queries``).

    Raises:
        ValueError: nothing embedded yet, or an invalid factory string.
    """
    t0 = time.perf_counter()
    ids, vectors = _wanted(cat, store)
    chosen = factory or choose_factory(len(ids), vectors.shape[1])
    index = build_index(ids, vectors, factory=chosen, use_gpu=use_gpu, progress=progress)
    params = _tune(index, ids, vectors, progress, tuning_queries)
    meta = _publish(
        cat, indexes_dir, index, model_id=store.model_id, factory=chosen, params=params, t0=t0,
        extra={"forced_factory": factory is not None},
    )  # fmt: skip
    return BuildResult(
        "build", meta.version, meta.n, chosen, float(params.recall_at_10), meta.build_seconds, reason=reason
    )


def _rebuild_reason(loaded: LoadedIndex, n_wanted: int, dim: int, gone: np.ndarray) -> str:
    meta = loaded.meta
    if meta.dim != dim:
        return f"the index has dimension {meta.dim}, the vectors {dim}"
    if not meta.extra.get("forced_factory") and choose_factory(n_wanted, dim) != meta.factory:
        return f"{n_wanted} vectors call for {choose_factory(n_wanted, dim)} instead of {meta.factory}"
    if gone.size and not supports_remove(loaded.index):
        return f"{gone.size} retired clips must leave a {meta.factory} index, which cannot remove vectors"
    return ""


def add_index_version(
    cat: Catalog,
    store: VectorStore,
    indexes_dir,
    *,
    use_gpu: bool | None = None,
    progress: bool = False,
    tuning_queries: QueryVectors | None = None,
) -> BuildResult:
    """Publish a version with the newly embedded clips added (and retired catalogs' clips removed).

    Incremental when the published index allows it (see the module docstring), otherwise a full rebuild whose
    ``reason`` says why. Nothing to do leaves the published version as it is (mode ``'unchanged'``). The search
    parameters are tuned again on the grown index (``tuning_queries`` as in ``build_index_version``).

    Raises:
        ValueError: nothing embedded yet.
    """
    t0 = time.perf_counter()
    ids, vectors = _wanted(cat, store)
    try:
        loaded = load_index(indexes_dir, store.model_id)
    except FileNotFoundError:
        reason = f"no published index for model {store.model_id} (new or retrained retriever)"
        return build_index_version(
            cat, store, indexes_dir, use_gpu=use_gpu, progress=progress, reason=reason, tuning_queries=tuning_queries
        )
    present = index_ids(loaded.index)
    new = ~np.isin(ids, present)
    gone = np.setdiff1d(present, ids)
    reason = _rebuild_reason(loaded, len(ids), vectors.shape[1], gone)
    if reason:
        factory = loaded.meta.factory if loaded.meta.extra.get("forced_factory") else None
        return build_index_version(
            cat, store, indexes_dir, factory=factory, use_gpu=use_gpu, progress=progress, reason=reason,
            tuning_queries=tuning_queries,
        )  # fmt: skip
    meta = loaded.meta
    if not new.any() and gone.size == 0:
        recall = meta.recall_at_10 if meta.recall_at_10 is not None else float("nan")
        return BuildResult("unchanged", loaded.version, meta.n, meta.factory, recall, time.perf_counter() - t0)
    index = loaded.index  # our own copy, read from disk: modifying it leaves the published files alone
    removed = remove_from_index(index, gone) if gone.size else 0
    add_to_index(index, ids[new], vectors[new], use_gpu=use_gpu, progress=progress)
    params = _tune(index, ids, vectors, progress, tuning_queries)
    meta = _publish(
        cat, indexes_dir, index, model_id=store.model_id, factory=meta.factory, params=params, t0=t0,
        extra={**meta.extra, "added_to": loaded.version},
    )  # fmt: skip
    return BuildResult(
        "add", meta.version, meta.n, meta.factory, float(params.recall_at_10), meta.build_seconds,
        added=int(new.sum()), removed=removed,
    )  # fmt: skip


def retire_catalog(cat: Catalog, catalog_id: str) -> int:
    """Mark a catalog retired: search never returns its clips again; its rows stay. Returns its ok video count.

    Raises:
        ValueError: unknown catalog (the message lists the known ones).
    """
    known = cat.catalog_ids()
    if catalog_id not in known:
        raise ValueError(f"unknown catalog {catalog_id!r}; catalogs: {', '.join(known) or '(none; ingest one)'}")
    cat.con.execute("UPDATE catalogs SET retired = TRUE WHERE catalog_id = ?", [catalog_id])
    row = cat.con.execute("SELECT count(*) FROM videos WHERE catalog_id = ? AND status = 'ok'", [catalog_id]).fetchone()
    _log.info("retired catalog %s (%d videos)", catalog_id, row[0])
    return int(row[0])


def index_status(cat: Catalog, store: VectorStore, indexes_dir) -> IndexStatus:
    """Versions of the model's index and how the catalog, the store and the published index compare."""
    wanted = indexable_clip_ids(cat)
    embedded = np.intersect1d(wanted, store.ids())
    published = active_version(indexes_dir, store.model_id)
    in_index = np.empty(0, np.int64)
    if published is not None:
        in_index = index_ids(load_index(indexes_dir, store.model_id).index)
    retired = [r[0] for r in cat.con.execute("SELECT catalog_id FROM catalogs WHERE retired ORDER BY 1").fetchall()]
    return IndexStatus(
        model_id=store.model_id,
        published=published,
        versions=list_versions(indexes_dir, store.model_id),
        indexable=int(wanted.size),
        embedded=int(embedded.size),
        not_embedded=int(wanted.size - embedded.size),
        not_indexed=int(np.setdiff1d(wanted, in_index).size),
        retired=retired,
    )


def prune_versions(cat: Catalog, indexes_dir, model_id: str, *, keep: int = 1) -> list[str]:
    """``versions.prune`` (the published version always stays) and drop the pruned versions' catalog rows."""
    deleted = prune(indexes_dir, model_id, keep=keep)
    for name in deleted:
        cat.con.execute("DELETE FROM index_versions WHERE model_id = ? AND version = ?", [model_id, name])
    return deleted

"""Indexes past one machine's memory: IVF-PQ filled shard by shard, searched from disk, re-ranked exactly.

The vectors never have to fit in memory at once: they arrive as ``(ids, vectors)`` chunks (a generator, a
``ChunkSource`` that can restart at a row, or ``VectorStoreSource`` over the workspace's ``indexer.vectors``).
``build_large_index`` trains one IVF-PQ index on a sample, then fills it shard by shard (``shard_size`` vectors
each). A folder holds::

    manifest.json            factory, dim, shard size, the finished shards (the build's resume point)
    trained.index            the empty trained index (coarse centroids + PQ codebooks), shared by every shard
    shards/shard-00000/      index.faiss (IVF-PQ codes + ids), ids.npy, vectors.f16 (unit vectors, float16 rows)
    ids_sorted.npy, rows.npy every id, sorted, and its row in the concatenated vectors.f16 files (for re-ranking)
    merged.index/.ivfdata    optional: all shards merged into one index with on-disk inverted lists

A shard is written under ``.tmp-`` and renamed when whole; a killed build restarts after its last finished shard.

Search (``LargeIndex``): the PQ codes of every shard are searched together (``faiss.IndexShards`` over shard indexes
read with ``IO_FLAG_MMAP``, or the merged on-disk index: ``layout``), then the ``rerank`` best candidates are
re-scored exactly from the float16 vectors on disk (``os.pread`` of the rows asked for; an ``np.memmap`` kept
every touched page resident: 12 GB at 10M). PQ alone
ranks neighbours only approximately (recall@10 ~0.5 against exact search in ``benchmarks.speed``), the exact
re-ranking of a few hundred candidates lifts it above 0.95 while memory holds only the PQ codes. Ties are broken by
ascending id, as in ``indexer.faiss_index.search``.

Why not ``indexer.faiss_index.choose_factory``: at millions of vectors it picks ``IVF-PQ fast-scan + Refine(SQ8)``,
whose SQ8 re-ranking codes stay in memory (``dim`` bytes a vector: 5 GB at 10M x 512, the whole memory budget)
and whose fast-scan lists cannot be mmapped or merged on disk. Here the re-ranking vectors stay on disk instead.

See docs/ARCHITECTURE.md (indexer) and ``benchmarks.scale_index`` for the 10M-vector measurements.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from indexer._arrays import check_ids, check_vectors, normalized_chunk
from indexer._layers import Layers
from indexer.faiss_index import _gpu_training, _tie_broken, _want_gpu
from indexer.vectors import VectorStore

__all__ = [
    "ChunkSource",
    "LargeIndex",
    "LargeSearchParams",
    "VectorStoreSource",
    "build_large_index",
    "exact_search_chunks",
    "large_factory",
    "merge_shards_ondisk",
    "train_large_index",
]

_log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TRAINED = "trained.index"
MERGED = "merged.index"
MERGED_DATA = "merged.ivfdata"
_FORMAT = 1
_TRAIN_POINTS_PER_LIST = 64
_MIN_PQ_TRAIN = 65_536
TIE_MARGIN = 16


class ChunkSource(Protocol):
    """A source of ``(ids, vectors)`` chunks that can start at any row (so a resumed build skips cheaply)."""

    def chunks(self, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Chunks covering rows ``start..`` of the source, in a fixed order."""
        ...


@dataclass(frozen=True)
class LargeSearchParams:
    """Search knobs: IVF lists probed per query, and PQ candidates re-ranked exactly (0: no re-ranking)."""

    nprobe: int = 32
    rerank: int = 200

    def to_dict(self) -> dict[str, int]:
        return {"nprobe": self.nprobe, "rerank": self.rerank}


def large_factory(n: int, dim: int) -> str:
    """The default factory for ``n`` vectors of dimension ``dim``: ``IVF{k},PQ{m}np`` (8-bit PQ, no polysemous).

    ``k`` is the power of two at or below ``sqrt(n)`` (the FAISS wiki's range is 4..16·sqrt(n); the low end is
    chosen because assigning every vector to its list costs ``n·k·dim`` flops, the bulk of a CPU build: 2048 lists
    at 10M). ``m = dim/8`` sub-quantizers of 8 dimensions, one byte each (64 bytes a vector at dim 512).
    """
    if n < 1 or dim < 8:
        raise ValueError(f"large_factory needs n >= 1 and dim >= 8, got n={n}, dim={dim}")
    nlist = int(min(2**16, max(1, 2 ** math.floor(math.log2(math.sqrt(n))))))
    m = next(m for m in range(max(1, dim // 8), 0, -1) if dim % m == 0)
    return f"IVF{nlist},PQ{m}np"


# ---------------------------------------------------------------------------------------------------------------
# sources


class VectorStoreSource:
    """The clips of a ``VectorStore`` as chunks, one stored shard at a time (the newest copy of an id wins).

    Only ids are read up front (to drop copies superseded by a newer shard); vectors are read shard by shard.
    """

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self._shards = store.shards()
        ids = [store._read(s, with_vectors=False)[0] for s in self._shards]
        self._keep: list[np.ndarray] = []
        newer: np.ndarray = np.empty(0, np.int64)
        for shard_ids in reversed(ids):  # newest first: an id already seen in a newer shard is dropped here
            keep = ~np.isin(shard_ids, newer)
            self._keep.insert(0, keep)
            newer = np.union1d(newer, shard_ids)
        self.n = int(sum(int(k.sum()) for k in self._keep))

    def __len__(self) -> int:
        return self.n

    def chunks(self, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids, vectors)`` of each stored shard in order, from row ``start`` of the deduplicated sequence."""
        row = 0
        for shard, keep in zip(self._shards, self._keep, strict=True):
            count = int(keep.sum())
            if row + count <= start:
                row += count
                continue
            ids, vectors = self.store._read(shard, with_vectors=True)
            ids, vectors = ids[keep], vectors[keep]
            skip = max(0, start - row)
            row += count
            if skip < count:
                yield ids[skip:], vectors[skip:]

    def sample(self, size: int, seed: int = 0) -> np.ndarray:
        """About ``size`` vectors drawn uniformly (seeded) across all shards, for training."""
        rng = np.random.default_rng(seed)
        frac = min(1.0, size / max(self.n, 1))
        parts = []
        for _, vectors in self.chunks():
            take = rng.random(len(vectors)) < frac
            parts.append(np.asarray(vectors[take], np.float32))
        return np.concatenate(parts) if parts else np.empty((0, 0), np.float32)


def _chunks_from(source: ChunkSource | Iterable, start: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if hasattr(source, "chunks"):
        yield from source.chunks(start)
        return
    row = 0
    for ids, vectors in source:  # a plain iterable: skip the first `start` rows by reading past them
        n = len(ids)
        if row + n <= start:
            row += n
            continue
        skip = max(0, start - row)
        row += n
        yield ids[skip:], vectors[skip:]


# ---------------------------------------------------------------------------------------------------------------
# training and building


def _ivf(index: faiss.Index) -> faiss.IndexIVF:
    ivf = Layers.of(index).ivf
    if ivf is None:
        raise ValueError(f"large indexes need an IVF factory (e.g. 'IVF1024,PQ64np'), got {type(index).__name__}")
    return ivf


def train_large_index(sample: np.ndarray, *, factory: str, seed: int = 0, use_gpu: bool | None = None) -> faiss.Index:
    """An empty IVF index of type ``factory`` (inner product), trained on ``sample`` (normalised here).

    Args:
        sample: (N, D) float training vectors; 64 per IVF list and at least 65536 for the PQ codebooks is ample.
        factory: FAISS factory string with an IVF layer, e.g. ``large_factory(n, dim)`` or ``"OPQ64,IVF2048,PQ64np"``.
        seed: Seed of the k-means initialisations.
        use_gpu: Run the coarse k-means on GPU (faiss-gpu); None: when ``faiss.get_num_gpus() > 0``.
    """
    sample = check_vectors(sample, None, "training sample")
    dim = sample.shape[1]
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise ValueError(f"invalid FAISS factory string {factory!r} for dim {dim}: {e}") from e
    parts = Layers.of(index)
    ivf = _ivf(index)
    for cp in (ivf.cp, getattr(getattr(ivf, "pq", None), "cp", None)):
        if cp is not None:
            cp.seed = seed
            cp.min_points_per_centroid = 1
    if len(sample) < ivf.nlist:
        raise ValueError(f"{factory} needs at least {ivf.nlist} training vectors (one per list), got {len(sample)}")
    xt = normalized_chunk(sample, 0, "training sample")
    t0 = time.perf_counter()
    with _gpu_training(parts, _want_gpu(use_gpu)):
        index.train(xt)
    _log.info("trained %s on %d vectors in %.1f s", factory, len(xt), time.perf_counter() - t0)
    return index


def default_train_size(factory: str, dim: int) -> int:
    """Training points for ``factory``: 64 per IVF list, at least 65536 (PQ codebooks)."""
    nlist = _ivf(faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)).nlist
    return max(_TRAIN_POINTS_PER_LIST * nlist, _MIN_PQ_TRAIN)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}"


class _Adder:
    """Adds chunks to a copy of the trained index: list assignment (on GPU when asked), then ``add_core``."""

    def __init__(self, trained_path: Path, use_gpu: bool) -> None:
        self.index = faiss.read_index(str(trained_path))
        self.ivf = _ivf(self.index)
        self.pretransform = Layers.of(self.index).pretransform
        q = self.ivf.quantizer
        self.assigner = faiss.index_cpu_to_all_gpus(q) if use_gpu else q

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        if self.pretransform is not None:
            for i in range(self.pretransform.chain.size()):
                x = np.ascontiguousarray(self.pretransform.chain.at(i).apply(x), dtype=np.float32)
        _, assign = self.assigner.search(x, 1)
        assign = np.ascontiguousarray(assign[:, 0], dtype=np.int64)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.ivf.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(assign))
        if self.index is not self.ivf:
            self.index.ntotal = self.ivf.ntotal


def build_large_index(
    path: str | Path,
    source: ChunkSource | Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    factory: str,
    train_sample: np.ndarray | None = None,
    shard_size: int = 1_000_000,
    seed: int = 0,
    use_gpu: bool | None = None,
    progress: bool = False,
    total: int | None = None,
) -> dict:
    """Build (or resume building) a large index in the folder ``path`` from ``source``, shard by shard.

    Only one shard's PQ codes and one input chunk are in memory at a time. Resumable: when ``path`` holds a
    build of the same factory, dimension and shard size, training is skipped if done and the build continues after
    the last finished shard (``source`` must yield the same rows in the same order).

    Args:
        path: The index folder (created).
        source: ``(ids, vectors)`` chunks: a ``ChunkSource`` (restarts at a row) or any iterable (on resume, the
            rows already indexed are read and skipped). Ids: int64 >= 0, unique over the whole source.
        factory: FAISS factory with an IVF layer (``large_factory(n, dim)``).
        train_sample: (N, D) training vectors; None: the first ``default_train_size`` rows of the source.
        shard_size: Vectors per shard.
        seed: Seed of the k-means.
        use_gpu: k-means and list assignment on GPU; None: when FAISS sees one; False: never.
        progress: Show a progress bar while adding.
        total: Expected number of vectors (for the progress bar only).

    Returns:
        The manifest (``shards``: rows and seconds per shard; ``train_s``; ``complete``).

    Raises:
        ValueError: on a dimension that differs from the index's, repeated ids (within a chunk or across shards),
            negative ids, NaN/infinite/zero vectors, or a folder holding a different build.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    gpu = _want_gpu(use_gpu)
    root = Path(path)
    (root / "shards").mkdir(parents=True, exist_ok=True)
    for stale in (root / "shards").glob(".tmp-*"):
        shutil.rmtree(stale)
    man_path = root / MANIFEST
    manifest = _read_json(man_path) if man_path.exists() else None
    if manifest is not None:
        same = (manifest["factory"], manifest["shard_size"], manifest["format"]) == (factory, shard_size, _FORMAT)
        if not same:
            raise ValueError(
                f"{root} holds a build of {manifest['factory']!r} with shard_size {manifest['shard_size']}, not "
                f"{factory!r} / {shard_size}; delete the folder or build elsewhere"
            )
        if manifest.get("complete"):
            return manifest
    trained_path = root / TRAINED
    if manifest is None or not trained_path.exists():
        if train_sample is None:
            dim_probe = None
            parts, got = [], 0
            for _, vectors in _chunks_from(source, 0):
                vectors = check_vectors(vectors, dim_probe)
                dim_probe = vectors.shape[1]
                want = default_train_size(factory, dim_probe)
                parts.append(np.asarray(vectors[: want - got], np.float32))
                got += len(parts[-1])
                if got >= want:
                    break
            if not parts:
                raise ValueError("the source yielded no vectors to train on")
            train_sample = np.concatenate(parts)
        t0 = time.perf_counter()
        index = train_large_index(train_sample, factory=factory, seed=seed, use_gpu=gpu)
        train_s = time.perf_counter() - t0
        faiss.write_index(index, str(root / f".tmp-{TRAINED}"))
        os.replace(root / f".tmp-{TRAINED}", trained_path)
        manifest = {
            "format": _FORMAT,
            "factory": factory,
            "dim": int(index.d),
            "shard_size": shard_size,
            "seed": seed,
            "train_size": len(train_sample),
            "train_s": train_s,
            "shards": [],
            "complete": False,
        }
        _write_json(man_path, manifest)
    dim = int(manifest["dim"])
    done_rows = sum(s["n"] for s in manifest["shards"])
    seen = np.sort(
        np.concatenate([np.load(root / "shards" / s["name"] / "ids.npy") for s in manifest["shards"]])
        if manifest["shards"]
        else np.empty(0, np.int64)
    )
    if done_rows:
        _log.info("resuming %s after %d shards (%d vectors)", root, len(manifest["shards"]), done_rows)

    from media.progress import progress_bar  # here, not at the top: the search path does not import media

    writer: _ShardWriter | None = None
    row = done_rows  # input row of the next vector
    with progress_bar(total=total, desc="large index add", unit="vec", enabled=progress) as bar:
        bar.update(done_rows)
        for ids, vectors in _chunks_from(source, done_rows):
            ids = check_ids(ids)
            vectors = check_vectors(vectors, dim)
            if len(ids) != len(vectors):
                raise ValueError(f"ids and vectors differ in length at row {row}: {len(ids)} and {len(vectors)}")
            pos = 0
            while pos < len(ids):
                if writer is None:
                    writer = _ShardWriter(root, len(manifest["shards"]), trained_path, gpu, row)
                take = min(len(ids) - pos, shard_size - writer.n)
                part_ids = ids[pos : pos + take]
                _check_new_ids(part_ids, seen, writer, row)
                writer.add(part_ids, normalized_chunk(vectors[pos : pos + take], row, "vectors"))
                pos += take
                row += take
                bar.update(take)
                if writer.n == shard_size:
                    seen = _finish(writer, manifest, man_path, seen)
                    writer = None
    if writer is not None and writer.n:
        seen = _finish(writer, manifest, man_path, seen)
    if not manifest["shards"]:
        raise ValueError("the source yielded no vectors")
    _write_lookup(root, manifest)
    manifest["complete"] = True
    manifest["n"] = int(sum(s["n"] for s in manifest["shards"]))
    _write_json(man_path, manifest)
    return manifest


def _check_new_ids(ids: np.ndarray, seen: np.ndarray, writer: _ShardWriter, row: int) -> None:
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != ids.size:
        dup = uniq[counts > 1]
        raise ValueError(f"repeated ids in the chunk at row {row}, e.g. {dup[:5].tolist()}; ids must be unique")
    for prior, where in ((seen, "an earlier shard"), (writer.sorted_ids(), "this shard")):
        if prior.size:
            at = np.minimum(np.searchsorted(prior, ids), prior.size - 1)
            hit = prior[at] == ids
            if hit.any():
                raise ValueError(
                    f"ids already indexed in {where} (at row {row}), e.g. {ids[hit][:5].tolist()}; ids must be unique"
                )


class _ShardWriter:
    """One shard being filled in ``shards/.tmp-shard-NNNNN``: codes in memory, float16 vectors appended on disk."""

    def __init__(self, root: Path, number: int, trained_path: Path, gpu: bool, first_row: int) -> None:
        self.name = _shard_name(number)
        self.final = root / "shards" / self.name
        self.tmp = root / "shards" / f".tmp-{self.name}"
        self.tmp.mkdir(parents=True)
        self.first_row = first_row
        self.adder = _Adder(trained_path, gpu)
        self.f16 = open(self.tmp / "vectors.f16", "wb")  # closed in finish
        self.ids: list[np.ndarray] = []
        self._sorted = np.empty(0, np.int64)
        self.n = 0
        self.t0 = time.perf_counter()

    def sorted_ids(self) -> np.ndarray:
        return self._sorted

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        self.adder.add(ids, x)
        self.f16.write(x.astype(np.float16).tobytes())
        self.ids.append(ids)
        self._sorted = np.union1d(self._sorted, ids)
        self.n += len(ids)

    def finish(self) -> tuple[np.ndarray, dict]:
        self.f16.flush()
        os.fsync(self.f16.fileno())
        self.f16.close()
        ids = np.concatenate(self.ids)
        np.save(self.tmp / "ids.npy", ids)
        faiss.write_index(self.adder.index, str(self.tmp / "index.faiss"))
        os.replace(self.tmp, self.final)
        info = {
            "name": self.name,
            "n": int(self.n),
            "first_row": int(self.first_row),
            "add_s": time.perf_counter() - self.t0,
            "index_bytes": os.path.getsize(self.final / "index.faiss"),
            "vectors_bytes": os.path.getsize(self.final / "vectors.f16"),
        }
        return ids, info


def _finish(writer: _ShardWriter, manifest: dict, man_path: Path, seen: np.ndarray) -> np.ndarray:
    ids, info = writer.finish()
    manifest["shards"].append(info)
    _write_json(man_path, manifest)
    _log.info("shard %s: %d vectors in %.1f s", info["name"], info["n"], info["add_s"])
    return np.union1d(seen, ids)


def _write_lookup(root: Path, manifest: dict) -> None:
    ids = np.concatenate([np.load(root / "shards" / s["name"] / "ids.npy") for s in manifest["shards"]])
    order = np.argsort(ids, kind="stable")
    np.save(root / ".tmp-ids_sorted.npy", ids[order])
    np.save(root / ".tmp-rows.npy", order.astype(np.int64))
    os.replace(root / ".tmp-ids_sorted.npy", root / "ids_sorted.npy")
    os.replace(root / ".tmp-rows.npy", root / "rows.npy")


def merge_shards_ondisk(path: str | Path) -> Path:
    """Merge a finished build's shards into ``merged.index`` + ``merged.ivfdata`` (on-disk inverted lists).

    FAISS's ``contrib.ondisk.merge_ondisk``: one index whose lists are read from the ``.ivfdata`` file by mmap, so
    a query quantizes once instead of once per shard. Idempotent: an existing merge is kept.
    """
    from faiss.contrib.ondisk import merge_ondisk

    root = Path(path)
    manifest = _read_json(root / MANIFEST)
    if not manifest.get("complete"):
        raise ValueError(f"{root} is not a finished build; run build_large_index to the end first")
    if (root / MERGED).exists():
        return root / MERGED
    index = faiss.read_index(str(root / TRAINED))
    shard_files = [str(root / "shards" / s["name"] / "index.faiss") for s in manifest["shards"]]
    data = root / MERGED_DATA
    data.unlink(missing_ok=True)
    merge_ondisk(index, shard_files, str(data))
    faiss.write_index(index, str(root / f".tmp-{MERGED}"))
    os.replace(root / f".tmp-{MERGED}", root / MERGED)
    return root / MERGED


# ---------------------------------------------------------------------------------------------------------------
# search


class LargeIndex:
    """A finished large index opened for search: PQ candidates from all shards, re-ranked exactly from disk.

    Memory: the shard indexes are mmapped (their pages are read on demand and can be dropped by the OS), the id
    lookup tables are mmapped, the float16 vectors are read row by row with ``pread``. Not safe for concurrent
    searches that pass different ``params`` (the knobs are set on the shared FAISS objects).
    """

    def __init__(self, path: str | Path, *, layout: str = "shards", use_gpu: bool | None = None) -> None:
        """Open the build in ``path``; ``layout``: ``"shards"`` (IndexShards, mmap) or ``"ondisk"`` (merged)."""
        self.path = Path(path)
        man_path = self.path / MANIFEST
        if not man_path.exists():
            raise FileNotFoundError(f"no large index in {self.path} (no {MANIFEST}); build it with build_large_index")
        self.manifest = _read_json(man_path)
        if not self.manifest.get("complete"):
            raise ValueError(f"the build in {self.path} is not finished; run build_large_index again to resume it")
        self.dim = int(self.manifest["dim"])
        self.layout = layout
        gpu = self._gpu = _want_gpu(use_gpu)
        shard_dirs = [self.path / "shards" / s["name"] for s in self.manifest["shards"]]
        self._subs: list[faiss.Index] = []
        if layout == "shards":
            index = faiss.IndexShards(self.dim, False, False)  # ids come from the shards, not successive
            for d in shard_dirs:
                sub = faiss.read_index(str(d / "index.faiss"), faiss.IO_FLAG_MMAP)
                if gpu:
                    sub = _to_gpu(sub)
                self._subs.append(sub)
                index.add_shard(sub)
        elif layout == "ondisk":
            merged = self.path / MERGED
            if not merged.exists():
                raise FileNotFoundError(f"{merged} is missing; run merge_shards_ondisk({str(self.path)!r}) first")
            index = faiss.read_index(str(merged), faiss.IO_FLAG_ONDISK_SAME_DIR)
            if gpu:
                index = _to_gpu(index)
            self._subs.append(index)
        else:
            raise ValueError(f"layout must be 'shards' or 'ondisk', got {layout!r}")
        self.index = index
        self.ntotal = int(sum(s["n"] for s in self.manifest["shards"]))
        self._ids_sorted = np.load(self.path / "ids_sorted.npy", mmap_mode="r")
        self._rows = np.load(self.path / "rows.npy", mmap_mode="r")
        self._offsets = np.cumsum([0] + [s["n"] for s in self.manifest["shards"]])
        # Rows are read with pread, not through np.memmap: every page a memmap touches (and the pages the kernel
        # maps around it) stays in this process's resident set, which grew to 12 GB over the 10 GB of vectors
        # in the 10M benchmark; pread copies only the rows asked for.
        self._fds = [os.open(d / "vectors.f16", os.O_RDONLY) for d in shard_dirs]

    def close(self) -> None:
        """Close the vector files (also done when the object is garbage-collected)."""
        for fd in getattr(self, "_fds", []):
            os.close(fd)
        self._fds = []

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> LargeIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_params(self, params: LargeSearchParams) -> None:
        if params.nprobe < 1 or params.rerank < 0:
            raise ValueError(f"nprobe must be >= 1 and rerank >= 0, got {params}")
        for sub in self._subs:
            if self._gpu:
                faiss.GpuParameterSpace().set_index_parameter(sub, "nprobe", params.nprobe)
            else:
                faiss.extract_index_ivf(sub).nprobe = params.nprobe

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored (unit, float16-rounded) vectors of ``ids`` as float32 (N, D); KeyError for unknown ids."""
        ids = check_ids(ids)
        at = np.minimum(np.searchsorted(self._ids_sorted, ids), max(len(self._ids_sorted) - 1, 0))
        found = np.asarray(self._ids_sorted[at]) == ids
        if not found.all():
            raise KeyError(f"ids not in the index, e.g. {ids[~found][:5].tolist()}")
        rows = np.asarray(self._rows[at])
        shard = np.searchsorted(self._offsets, rows, side="right") - 1
        out = np.empty((len(ids), self.dim), np.float32)
        row_bytes = 2 * self.dim
        for s in np.unique(shard):
            sel = np.flatnonzero(shard == s)
            local = rows[sel] - self._offsets[s]
            order = np.argsort(local)  # read in file order
            fd = self._fds[s]
            buf = b"".join(os.pread(fd, row_bytes, int(r) * row_bytes) for r in local[order])
            out[sel[order]] = np.frombuffer(buf, dtype=np.float16).reshape(len(local), self.dim)
        return out

    def search(
        self, queries: np.ndarray, k: int, params: LargeSearchParams | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` ids per query by cosine similarity: ``(scores float32 (Q, k), ids int64 (Q, k))``.

        With ``params.rerank > 0`` the scores are exact inner products with the stored vectors (float16-rounded)
        of the best ``max(rerank, k + 16)`` PQ candidates; otherwise the PQ estimates. Equal scores come in
        ascending id; rows with fewer than ``k`` hits are padded with id -1 and score -inf.
        """
        params = params or LargeSearchParams()
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        q = np.asarray(queries)
        if q.ndim == 1:
            q = q[None, :]
        q = normalized_chunk(check_vectors(q, self.dim, "queries"), 0, "queries")
        self._set_params(params)
        fetch = min(max(params.rerank, k + TIE_MARGIN), max(self.ntotal, k))
        scores, labels = self.index.search(q, fetch)
        if params.rerank > 0:
            scores = self._exact_scores(q, labels)
        pad = labels < 0
        labels[pad] = -1
        scores[pad] = -np.inf
        scores, labels = _tie_broken(scores, labels)
        return np.ascontiguousarray(scores[:, :k]), np.ascontiguousarray(labels[:, :k])

    def _exact_scores(self, q: np.ndarray, labels: np.ndarray) -> np.ndarray:
        flat = labels.ravel()
        valid = flat >= 0
        vecs = np.zeros((flat.size, self.dim), np.float32)
        if valid.any():
            uniq, inv = np.unique(flat[valid], return_inverse=True)
            vecs[valid] = self.vectors(uniq)[inv]
        return np.einsum("qrd,qd->qr", vecs.reshape(*labels.shape, self.dim), q).astype(np.float32)

    def iter_vectors(self, chunk: int = 262_144) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids, float32 vectors)`` of every stored vector, shard by shard, read in chunks (not mmapped)."""
        row_bytes = 2 * self.dim
        for info in self.manifest["shards"]:
            d = self.path / "shards" / info["name"]
            ids = np.load(d / "ids.npy", mmap_mode="r")
            with open(d / "vectors.f16", "rb") as f:
                for start in range(0, info["n"], chunk):
                    n = min(chunk, info["n"] - start)
                    f.seek(start * row_bytes)
                    x = np.fromfile(f, dtype=np.float16, count=n * self.dim).reshape(n, self.dim)
                    yield np.asarray(ids[start : start + n]), x.astype(np.float32)

    def exact_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` by inner product over every stored vector, chunk by chunk (the ground truth)."""
        q = normalized_chunk(check_vectors(np.atleast_2d(queries), self.dim, "queries"), 0, "queries")
        return exact_search_chunks(self.iter_vectors(), q, k)

    def disk_bytes(self) -> dict[str, int]:
        """Bytes on disk: ``codes`` (shard indexes), ``vectors`` (float16 re-ranking rows), ``lookup``, ``merged``."""
        shards = self.path / "shards"
        out = {"codes": 0, "vectors": 0, "lookup": 0, "merged": 0}
        for info in self.manifest["shards"]:
            out["codes"] += os.path.getsize(shards / info["name"] / "index.faiss")
            out["vectors"] += os.path.getsize(shards / info["name"] / "vectors.f16")
            out["lookup"] += os.path.getsize(shards / info["name"] / "ids.npy")
        out["lookup"] += sum(os.path.getsize(self.path / f) for f in ("ids_sorted.npy", "rows.npy"))
        for f in (MERGED, MERGED_DATA):
            if (self.path / f).exists():
                out["merged"] += os.path.getsize(self.path / f)
        return out


def _to_gpu(index: faiss.Index) -> faiss.Index:
    co = faiss.GpuMultipleClonerOptions()
    co.useFloat16 = True  # IVF-PQ with many sub-quantizers needs float16 lookup tables on GPU
    return faiss.index_cpu_to_all_gpus(index, co=co)


def exact_search_chunks(
    chunks: Iterable[tuple[np.ndarray, np.ndarray]], queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` inner products of ``queries`` (used as given) over ``(ids, vectors)`` chunks, ties by id.

    Keeps only the running top ``k + 16`` per query, so memory is one chunk plus ``Q·k``.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    keep = k + TIE_MARGIN
    best_s = np.full((len(q), 0), -np.inf, np.float32)
    best_i = np.full((len(q), 0), -1, np.int64)
    for ids, x in chunks:
        s = q @ np.ascontiguousarray(x, dtype=np.float32).T
        if s.shape[1] > keep:
            part = np.argpartition(-s, keep - 1, axis=1)[:, :keep]
            s = np.take_along_axis(s, part, axis=1)
            i = np.asarray(ids)[part]
        else:
            i = np.broadcast_to(np.asarray(ids), s.shape)
        best_s = np.concatenate([best_s, s], axis=1)
        best_i = np.concatenate([best_i, i], axis=1)
        best_s, best_i = _tie_broken(best_s, best_i)
        best_s, best_i = best_s[:, :keep], best_i[:, :keep]
    if best_s.shape[1] < k:
        pad = k - best_s.shape[1]
        best_s = np.pad(best_s, ((0, 0), (0, pad)), constant_values=-np.inf)
        best_i = np.pad(best_i, ((0, 0), (0, pad)), constant_values=-1)
    return best_s[:, :k], best_i[:, :k]

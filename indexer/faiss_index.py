"""FAISS indexes over clip embeddings: pick a type by size, build, add, remove, and search with clip-id filters.

Plain functions over numpy arrays and ``faiss.Index`` (in the style of faiss ``contrib/``). Every index holds
L2-normalised float32 vectors compared by inner product (cosine similarity) and is keyed by clip id (int64, >= 0).

Which index types take external ids, and what they support:

=====================================  ==================  ===========  ==========================================
factory (as built)                     ids                 remove_ids   ID selector (``allowed_ids``)
=====================================  ==================  ===========  ==========================================
``IDMap2,Flat``                        IDMap2 wrapper      yes          yes (IDMap2 translates it)
``IDMap2,HNSW32``                      IDMap2 wrapper      **no**       yes (IDMap2 translates it)
``IVF{k},Flat`` / ``IVF{k},SQ8``       stored in the IVF   yes          yes (``SearchParametersIVF``)
``OPQ…,IVF{k},PQ…`` (no refine)        stored in the IVF   yes          yes (through ``IndexPreTransform``)
``IDMap2,…,Refine(…)`` / ``RFlat``     IDMap2 wrapper      **no**       yes (``search`` translates it)
=====================================  ==================  ===========  ==========================================

Result ids equal to ``-1`` are padding (fewer than ``k`` vectors matched); their scores are ``-inf``.

FAISS pitfalls handled here: IVF indexes reject plain ``SearchParameters`` and a ``SearchParametersIVF`` without
``nprobe`` silently searches one list, so every search passes complete per-type parameters; ``IndexRefine`` ignores
the selector that ``IndexIDMap`` hands it (results would silently be unfiltered), so the selector is translated to
internal ids and given to the base index; ``PQ{m}`` in a factory string trains polysemous codes for minutes unless
written ``PQ{m}np`` (this module's default types use fast-scan ``x4fs`` codes, which have none).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np

from indexer._arrays import check_ids, check_pair, check_vectors, chunks, normalize, normalized_chunk
from indexer._layers import Layers, faiss_message

__all__ = [
    "EXACT_MAX",
    "IVF_MAX",
    "SearchParams",
    "UnsupportedIndexOperationError",
    "add_to_index",
    "apply_search_params",
    "build_index",
    "choose_factory",
    "current_search_params",
    "describe_index",
    "index_ids",
    "normalize",
    "remove_from_index",
    "search",
    "supports_remove",
    "train_index",
]

_log = logging.getLogger(__name__)

EXACT_MAX = 100_000  # below this many vectors an exact (Flat) index is fast enough and needs no tuning
IVF_MAX = 1_000_000  # from EXACT_MAX to here: IVF with full vectors; from here on: IVF-PQ re-ranked by SQ8
_HNSW_QUANTIZER_MIN_LISTS = 16_384  # from this many IVF lists, search the centroids with HNSW (FAISS wiki)
_ADD_CHUNK = 65_536  # vectors per add() call: bounds the normalised copy held in memory at once
_TRAIN_POINTS_PER_LIST = 50  # FAISS wants 39..256 training points per IVF list; 50 keeps k-means affordable
_MIN_POINTS_PER_LIST = 39  # below this FAISS's k-means warns that centroids are poorly estimated
_MIN_PQ_TRAIN = 65_536  # PQ/OPQ codebooks (256 centroids per sub-quantizer) want ~39*256 points and more
TIE_MARGIN = 16  # results fetched past k, so clips tied with the k-th are cut by clip id, not by FAISS's heap order
_MAX_FILTER_WIDENING = 1_000  # a filter never multiplies nprobe / efSearch by more than this


class UnsupportedIndexOperationError(ValueError):
    """The index type cannot do what was asked (e.g. ``remove_ids`` on HNSW); the message names the type."""


@dataclass(frozen=True)
class SearchParams:
    """Search-time knobs of an approximate index, with the recall they were measured to give.

    ``None`` means "this index has no such knob" (or "keep the index's current value" when passed to ``search``).
    """

    nprobe: int | None = None  # IVF lists visited per query
    efSearch: int | None = None  # HNSW beam width: the top-level HNSW graph, or the IVF's HNSW coarse quantizer
    k_factor: int | None = None  # refine: the first stage returns k_factor * k candidates, re-ranked exactly
    recall_at_10: float = 1.0  # measured mean recall@k (k=10 unless tuned otherwise) against exact search

    def to_dict(self) -> dict[str, int | float | None]:
        return {
            "nprobe": self.nprobe,
            "efSearch": self.efSearch,
            "k_factor": self.k_factor,
            "recall_at_10": self.recall_at_10,
        }


# ---------------------------------------------------------------------------------------------------------------
# choosing and creating an index


def choose_factory(n: int, dim: int) -> str:
    """The FAISS factory string for ``n`` vectors of dimension ``dim`` (inner product on unit vectors).

    The rule follows the FAISS wiki page "Guidelines to choose an index" (github.com/facebookresearch/faiss/wiki):

    * ``n < EXACT_MAX`` (100k): ``IDMap2,Flat``, exact search; brute force is fast at this size and needs no
      training or tuning.
    * ``EXACT_MAX <= n < IVF_MAX`` (100k..1M): ``IVF{k},Flat`` with ``k`` the power of two nearest to
      ``4·sqrt(n)`` (the wiki's range is 4·sqrt(n)..16·sqrt(n); the low end trains fastest and reaches a given
      recall with fewer lists probed). Full vectors, so recall is limited only by ``nprobe``; supports removal.
    * ``n >= IVF_MAX`` (millions): ``IDMap2,IVF{k},PQ{m}x4fsr,Refine(SQ8)`` with ``k`` as above and ``m = dim/4``:
      4-bit fast-scan PQ (``m/2`` bytes per vector) proposes ``k_factor·k`` candidates that 8-bit scalar-quantised
      vectors (``dim`` bytes) re-rank. On ``benchmarks.speed`` (1M x 256): recall@10 0.96 at the batch throughput
      of IVF-Flat with 3.3x less memory (296 vs 988 MB); in a 100k experiment it ran 3x faster than IVF-SQ8 at
      equal recall. PQ alone stays far below the 0.95 target against exact search (recall@10 0.35-0.65 in our
      runs, with or without OPQ), hence the refine stage; OPQ in front of the refined PQ measured no recall gain
      for 10x the training time, so it is left out. From ``k >= 16384`` lists the centroids are searched with HNSW
      (``IVF{k}_HNSW32``), as the wiki advises for 1M+ vectors. Dimensions below 64 keep ``IVF{k},Flat``.
      This type cannot remove vectors (``remove_from_index`` raises).

    Args:
        n: Number of vectors the index will hold.
        dim: Vector dimension.

    Returns:
        A factory string that ``build_index`` accepts (it already carries the ``IDMap2`` wrapper where needed).
    """
    if n < 0 or dim < 1:
        raise ValueError(f"choose_factory needs n >= 0 and dim >= 1, got n={n}, dim={dim}")
    if n < EXACT_MAX:
        return "IDMap2,Flat"
    nlist = _nlist_for(n)
    if n < IVF_MAX:
        return f"IVF{nlist},Flat"
    m = _pq_subquantizers(dim)
    if m is None:
        return f"IVF{nlist},Flat"
    quantizer = "_HNSW32" if nlist >= _HNSW_QUANTIZER_MIN_LISTS else ""
    return f"IDMap2,IVF{nlist}{quantizer},PQ{m}x4fsr,Refine(SQ8)"


def _nlist_for(n: int) -> int:
    # Power of two nearest to 4*sqrt(n), capped at 2**16 lists (the wiki's choice up to 10M vectors).
    return int(min(2**16, max(1, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


def _pq_subquantizers(dim: int) -> int | None:
    # m = dim/4 sub-quantizers of 4 dims each; fast-scan PQ wants m even. None: PQ is not worth it.
    if dim < 64:
        return None
    for m in range(dim // 4, 1, -1):
        if dim % m == 0 and m % 2 == 0:
            return m
    return None


def _resolve_factory(factory: str, dim: int) -> str:
    """``factory`` with the ``IDMap2,`` prefix added when the index type cannot store ids itself."""
    factory = factory.strip().replace(" ", "")
    if not factory:
        raise ValueError("factory must be a non-empty FAISS factory string such as 'IDMap2,Flat' or 'IVF1024,Flat'")
    if factory.startswith(("IDMap,", "IDMap2,")):
        return factory
    try:
        probe = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise ValueError(f"invalid FAISS factory string {factory!r} for dim {dim}: {faiss_message(e)}") from e
    parts = Layers.of(probe)
    stores_ids = parts.ivf is not None and parts.refine is None
    return factory if stores_ids else f"IDMap2,{factory}"


def _new_index(factory: str, dim: int) -> faiss.Index:
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise ValueError(f"invalid FAISS factory string {factory!r} for dim {dim}: {faiss_message(e)}") from e
    return index


def describe_index(index: faiss.Index) -> str:
    """The layers of ``index`` as FAISS class names, outermost first (e.g. ``IndexIDMap2 > IndexHNSWFlat``)."""
    return Layers.of(index).kind


# ---------------------------------------------------------------------------------------------------------------
# GPU: the index always stays a CPU index; the heavy inner loops (k-means of the coarse quantizer, assignment of
# added vectors to IVF lists) run on a GPU copy of a flat index. This works for every IVF type, including fast-scan
# PQ and refine indexes that have no GPU version, and leaves nothing to convert back before saving.


def _want_gpu(use_gpu: bool | None) -> bool:
    n_gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if use_gpu is None:
        return n_gpus > 0
    if use_gpu and n_gpus == 0:
        raise ValueError(
            "use_gpu=True but FAISS sees no GPU (install faiss-gpu, the 'gpu' extra, on a machine with CUDA); "
            "pass use_gpu=None to use one only when present"
        )
    return use_gpu


@contextmanager
def _gpu_training(parts: Layers, enabled: bool) -> Iterator[None]:
    """Run the coarse quantizer's k-means on GPU (FAISS's ``clustering_index`` hook), then detach it."""
    if not enabled or parts.ivf is None:
        yield
        return
    gpu_flat = faiss.index_cpu_to_all_gpus(faiss.IndexFlatL2(parts.ivf.d))
    parts.ivf.clustering_index = gpu_flat
    try:
        yield
    finally:
        parts.ivf.clustering_index = None  # never saved with, nor outliving, the CPU index


@contextmanager
def _gpu_assignment(parts: Layers, enabled: bool) -> Iterator[None]:
    """Assign added vectors to IVF lists on GPU by swapping in a GPU copy of the flat coarse quantizer.

    Only for IVF-Flat: other IVF types also ask the quantizer for residuals, which a GPU copy answers slowly.
    """
    ivf = parts.ivf
    if not enabled or not isinstance(ivf, faiss.IndexIVFFlat):
        yield
        return
    cpu_quantizer = faiss.downcast_index(ivf.quantizer)
    if not isinstance(cpu_quantizer, faiss.IndexFlat):
        yield
        return
    gpu_quantizer = faiss.index_cpu_to_all_gpus(cpu_quantizer)
    ivf.quantizer = gpu_quantizer
    try:
        yield
    finally:
        ivf.quantizer = cpu_quantizer


# ---------------------------------------------------------------------------------------------------------------
# build, add, remove


def _default_train_size(parts: Layers, n: int) -> int:
    if parts.ivf is None:
        return n
    size = _TRAIN_POINTS_PER_LIST * parts.ivf.nlist
    if parts.pretransform is not None or not isinstance(parts.ivf, faiss.IndexIVFFlat):
        size = max(size, _MIN_PQ_TRAIN)
    return min(n, size)


def train_index(
    vectors: np.ndarray,
    *,
    factory: str | None = None,
    n: int | None = None,
    train_sample: int | None = None,
    seed: int = 0,
    use_gpu: bool | None = None,
) -> faiss.Index:
    """An empty index of the right type, trained on a seeded sample of ``vectors`` when the type needs training.

    Use it with ``add_to_index`` to fill an index in shards, or to fill several indexes from one trained quantizer.

    Args:
        vectors: (N, D) float vectors to train on (normalised here, not in place).
        factory: FAISS factory string; None picks ``choose_factory(n, D)``. ``IDMap2,`` is prepended when the type
            cannot store ids itself.
        n: Number of vectors the index will hold, for ``choose_factory``; defaults to ``len(vectors)``.
        train_sample: Train on this many vectors drawn without replacement (seeded); None: 50 per IVF list
            (at least 65536 for PQ codebooks), at most all of them.
        seed: Seed of the training sample and of the k-means initialisation.
        use_gpu: Run the coarse quantizer's k-means on GPU (needs faiss-gpu); None: when
            ``faiss.get_num_gpus() > 0``; False: never.

    Returns:
        A trained, empty CPU index.
    """
    vectors = check_vectors(vectors, None)
    n_vec, dim = vectors.shape
    factory = _resolve_factory(factory or choose_factory(n if n is not None else n_vec, dim), dim)
    index = _new_index(factory, dim)
    parts = Layers.of(index)
    if parts.ivf is not None:
        pq = getattr(parts.ivf, "pq", None)
        for cp in (parts.ivf.cp, pq.cp if pq is not None else None):
            if cp is not None:
                cp.seed = seed  # ours rather than FAISS's fixed 1234, so `seed` really changes the clustering
                cp.min_points_per_centroid = 1  # FAISS would print its own warning to stderr; we log ours below
    if index.is_trained:
        return index
    if n_vec == 0:
        raise ValueError(f"index type {factory!r} needs training vectors, got none")
    size = min(n_vec, train_sample) if train_sample is not None else _default_train_size(parts, n_vec)
    if size < 1:
        raise ValueError(f"train_sample must be >= 1, got {train_sample}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_vec, size=size, replace=False)) if size < n_vec else np.arange(n_vec)
    xt = normalized_chunk(vectors[rows], 0, "training vectors")
    if parts.ivf is not None and size < _MIN_POINTS_PER_LIST * parts.ivf.nlist:
        _log.warning(
            "training %s on %d vectors: k-means wants at least %d per list (%d)",
            factory,
            size,
            _MIN_POINTS_PER_LIST,
            _MIN_POINTS_PER_LIST * parts.ivf.nlist,
        )
    t0 = time.perf_counter()
    with _gpu_training(parts, _want_gpu(use_gpu)):
        index.train(xt)
    assert index.is_trained, f"{factory} is not trained after train()"
    _log.info("trained %s on %d vectors of dim %d in %.1f s", factory, size, dim, time.perf_counter() - t0)
    return index


def build_index(
    ids: np.ndarray,
    vectors: np.ndarray,
    *,
    factory: str | None = None,
    train_sample: int | None = None,
    seed: int = 0,
    use_gpu: bool | None = None,
    chunk_size: int = _ADD_CHUNK,
    progress: bool = False,
) -> faiss.Index:
    """A FAISS index over ``vectors`` keyed by ``ids``: validated, normalised, trained if needed, filled.

    Args:
        ids: (N,) clip ids, integers in [0, 2**63), unique.
        vectors: (N, D) float vectors (any float dtype; normalised into a float32 copy chunk by chunk, so the
            caller's array is never modified and at most ``chunk_size`` rows are copied at a time).
        factory: FAISS factory string; None: ``choose_factory(N, D)``.
        train_sample: Number of vectors to train on (see ``train_index``).
        seed: Seed of the training sample and k-means.
        use_gpu: Run k-means and (IVF-Flat) list assignment on GPU (needs faiss-gpu); None: when a GPU is
            present; False: never. The index itself stays on CPU, ready to save.
        chunk_size: Vectors per ``add_with_ids`` call.
        progress: Show a progress bar while adding.

    Returns:
        A CPU ``faiss.Index`` with ``ntotal == N``; search it with ``search``.

    Raises:
        ValueError: on mismatched shapes, non-integer or negative or repeated ids, non-float vectors, NaN,
            infinite or zero vectors, or an invalid factory string.
    """
    ids, vectors = check_pair(ids, vectors, None)
    _want_gpu(use_gpu)  # a GPU asked for but absent is an error before any work
    for start, stop in chunks(len(vectors), chunk_size):  # fail before training, not after an hour of it
        normalized_chunk(vectors[start:stop], start, "vectors")
    t0 = time.perf_counter()
    index = train_index(vectors, factory=factory, train_sample=train_sample, seed=seed, use_gpu=use_gpu)
    t_train = time.perf_counter() - t0
    add_to_index(index, ids, vectors, use_gpu=use_gpu, chunk_size=chunk_size, progress=progress, check_existing=False)
    seconds = time.perf_counter() - t0
    _log.info(
        "built %s: %d vectors of dim %d in %.1f s (train %.1f s, add %.1f s, %.0f vectors/s)",
        describe_index(index),
        index.ntotal,
        index.d,
        seconds,
        t_train,
        seconds - t_train,
        index.ntotal / max(seconds - t_train, 1e-9),
    )
    return index


def add_to_index(
    index: faiss.Index,
    ids: np.ndarray,
    vectors: np.ndarray,
    *,
    use_gpu: bool | None = None,
    chunk_size: int = _ADD_CHUNK,
    check_existing: bool = True,
    progress: bool = False,
) -> None:
    """Add vectors to a trained index in place (Flat, HNSW, IVF, OPQ/IVF-PQ and refine indexes all allow it).

    The coarse quantizer and codebooks stay as trained: results equal those of an index trained the same way and
    filled in one go. When a catalog grows past the size the type was chosen for (``choose_factory`` answers
    differently), a rebuild gives better speed/recall than adding.

    Args:
        index: A trained index from ``build_index`` / ``train_index`` / ``load_index``.
        ids: (N,) new clip ids, unique and (with ``check_existing``) not already in the index.
        vectors: (N, D) float vectors, normalised into a copy chunk by chunk.
        use_gpu: Assign vectors to IVF-Flat lists on GPU; None: when a GPU is present; False: never.
        chunk_size: Vectors per ``add_with_ids`` call.
        check_existing: Refuse ids already in the index (FAISS would keep both copies and return the clip twice).
        progress: Show a progress bar.

    Raises:
        ValueError: on bad inputs, ids already present, or an untrained index.
    """
    ids, vectors = check_pair(ids, vectors, index.d)
    if not index.is_trained:
        raise ValueError(f"index {describe_index(index)} is not trained; build it with build_index or train_index")
    if check_existing and index.ntotal:
        present = np.isin(ids, index_ids(index))
        if present.any():
            raise ValueError(
                f"{int(present.sum())} ids are already in the index, e.g. {ids[present][:5].tolist()}; "
                "remove them first (remove_from_index) or rebuild"
            )
    n = len(ids)
    if n == 0:
        return
    from media.progress import progress_bar  # here, not at the top: the search path does not import media

    t0 = time.perf_counter()
    with (
        _gpu_assignment(Layers.of(index), _want_gpu(use_gpu)),
        progress_bar(total=n, desc="index add", unit="vec", enabled=progress) as bar,
    ):
        for start, stop in chunks(n, chunk_size):
            x = normalized_chunk(vectors[start:stop], start, "vectors")
            index.add_with_ids(x, ids[start:stop])
            bar.update(stop - start)
    _log.debug("added %d vectors in %.1f s", n, time.perf_counter() - t0)


def supports_remove(index: faiss.Index) -> bool:
    """Whether ``remove_from_index`` works on this index type (not for HNSW, nor refine indexes)."""
    parts = Layers.of(index)
    return parts.hnsw is None and parts.refine is None


def remove_from_index(index: faiss.Index, ids: np.ndarray) -> int:
    """Remove clips by id, in place; ids not in the index are ignored.

    Returns:
        How many vectors were removed.

    Raises:
        UnsupportedIndexOperationError: for types FAISS cannot remove from (HNSW graphs, refine indexes); rebuild
            those without the ids, or filter them out with ``search(..., allowed_ids=...)``.
    """
    ids = check_ids(ids)
    if not supports_remove(index):
        raise UnsupportedIndexOperationError(
            f"FAISS cannot remove vectors from a {describe_index(index)} index; rebuild it without those ids "
            "or exclude them at search time with allowed_ids (removal works on Flat and IVF indexes)"
        )
    if ids.size == 0 or index.ntotal == 0:
        return 0
    removed = int(index.remove_ids(faiss.IDSelectorBatch(ids)))
    _log.debug("removed %d of %d requested ids", removed, ids.size)
    return removed


def index_ids(index: faiss.Index) -> np.ndarray:
    """The clip ids stored in ``index`` (int64, in storage order, not sorted)."""
    parts = Layers.of(index)
    if parts.idmap is not None:
        return faiss.vector_to_array(parts.idmap.id_map).astype(np.int64, copy=False)
    if parts.ivf is not None:
        invlists = parts.ivf.invlists
        out = []
        for list_no in range(parts.ivf.nlist):
            size = invlists.list_size(list_no)
            if size:
                ptr = invlists.get_ids(list_no)
                out.append(faiss.rev_swig_ptr(ptr, size).copy())
                invlists.release_ids(list_no, ptr)
        return np.concatenate(out).astype(np.int64, copy=False) if out else np.empty(0, np.int64)
    raise UnsupportedIndexOperationError(f"{describe_index(index)} has no id map; build indexes with build_index")


# ---------------------------------------------------------------------------------------------------------------
# search parameters and search


def current_search_params(index: faiss.Index, parts: Layers | None = None) -> SearchParams:
    """The search knobs currently set on ``index`` (``recall_at_10`` is unknown here and reported as NaN);
    ``parts``: its ``Layers`` when the caller has them."""
    parts = parts if parts is not None else Layers.of(index)
    hnsw = parts.hnsw or parts.quantizer_hnsw
    return SearchParams(
        nprobe=int(parts.ivf.nprobe) if parts.ivf is not None else None,
        efSearch=int(hnsw.hnsw.efSearch) if hnsw is not None else None,
        k_factor=int(parts.refine.k_factor) if parts.refine is not None else None,
        recall_at_10=1.0 if parts.exact else float("nan"),
    )


def apply_search_params(index: faiss.Index, params: SearchParams) -> None:
    """Set ``params`` on ``index`` (and the layers inside its IDMap / OPQ / refine wrappers) as its defaults.

    Knobs that are None, or that the index does not have, are left alone.

    Raises:
        ValueError: if a knob is out of range (nprobe < 1, efSearch < 1, k_factor < 1).
    """
    _check_params(params)
    parts = Layers.of(index)
    if params.nprobe is not None and parts.ivf is not None:
        parts.ivf.nprobe = min(params.nprobe, parts.ivf.nlist)
    if params.efSearch is not None:
        for hnsw in (parts.hnsw, parts.quantizer_hnsw):
            if hnsw is not None:
                hnsw.hnsw.efSearch = params.efSearch
    if params.k_factor is not None and parts.refine is not None:
        parts.refine.k_factor = float(params.k_factor)


def _check_params(params: SearchParams) -> None:
    for name in ("nprobe", "efSearch", "k_factor"):
        value = getattr(params, name)
        if value is not None and (int(value) != value or value < 1):
            raise ValueError(f"SearchParams.{name} must be a positive integer or None, got {value!r}")


def _effective(parts: Layers, params: SearchParams | None) -> SearchParams:
    current = current_search_params(parts.top, parts)
    if params is None:
        return current
    _check_params(params)
    return SearchParams(
        nprobe=params.nprobe if params.nprobe is not None else current.nprobe,
        efSearch=params.efSearch if params.efSearch is not None else current.efSearch,
        k_factor=params.k_factor if params.k_factor is not None else current.k_factor,
        recall_at_10=params.recall_at_10,
    )


def _widen_for_filter(parts: Layers, p: SearchParams, selectivity: float) -> SearchParams:
    """Scale nprobe / efSearch by 1/selectivity so a filtered search meets about as many allowed vectors.

    An IVF probe that visits nprobe lists finds on average ``selectivity · nprobe/nlist · n`` allowed vectors;
    keeping that number as large as in the unfiltered search keeps recall near the tuned value. Below
    ``nprobe/nlist`` selectivity every list is visited (for IVF-Flat the filtered search is then exact).
    """
    if selectivity >= 1.0:
        return p
    factor = min(1.0 / max(selectivity, 1e-12), _MAX_FILTER_WIDENING)
    nprobe, ef = p.nprobe, p.efSearch
    if nprobe is not None and parts.ivf is not None:
        nprobe = int(min(parts.ivf.nlist, math.ceil(nprobe * factor)))
    if ef is not None and parts.hnsw is not None:
        ef = int(min(max(parts.top.ntotal, 1), math.ceil(ef * factor)))
    if ef is not None and parts.quantizer_hnsw is not None and nprobe is not None:
        ef = max(ef, nprobe)  # the HNSW quantizer must return at least nprobe lists
    return SearchParams(nprobe=nprobe, efSearch=ef, k_factor=p.k_factor, recall_at_10=p.recall_at_10)


def _search_parameters(
    parts: Layers, p: SearchParams, sel: faiss.IDSelector | None, keep: list
) -> faiss.SearchParameters:
    """Per-call FAISS parameters carrying ``p`` and the selector down to the layer that uses them.

    Per-call objects rather than index attributes, so concurrent searches never see each other's settings. FAISS
    objects referenced by pointer are appended to ``keep`` so Python keeps them alive during the search.
    """
    inner_sel = sel
    if parts.idmap is not None and parts.refine is not None and sel is not None:
        # IndexIDMap translates the selector of the params it receives, but IndexRefine ignores that selector and
        # searches its base with `base_index_params` only: the filter would silently vanish. Translate external
        # clip ids to the IDMap's internal positions ourselves and hand the result to the base index.
        inner_sel = faiss.IDSelectorTranslated(parts.idmap.id_map, sel)
        keep.append(inner_sel)

    if parts.ivf is not None:
        base = faiss.SearchParametersIVF()
        base.nprobe = p.nprobe if p.nprobe is not None else parts.ivf.nprobe
        if parts.quantizer_hnsw is not None:
            qp = faiss.SearchParametersHNSW()
            qp.efSearch = max(p.efSearch or parts.quantizer_hnsw.hnsw.efSearch, base.nprobe)
            keep.append(qp)
            base.quantizer_params = qp
    elif parts.hnsw is not None:
        base = faiss.SearchParametersHNSW()
        base.efSearch = p.efSearch if p.efSearch is not None else parts.hnsw.hnsw.efSearch
    else:
        base = faiss.SearchParameters()

    if parts.refine is None:
        if inner_sel is not None:
            base.sel = inner_sel  # for IDMap-wrapped Flat/HNSW, IDMap wraps it in IDSelectorTranslated itself
        return base
    if inner_sel is not None:
        base.sel = inner_sel
    keep.append(base)
    top = faiss.IndexRefineSearchParameters()
    top.k_factor = float(p.k_factor if p.k_factor is not None else parts.refine.k_factor)
    top.base_index_params = base
    return top


def _empty_result(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)


def search(
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    *,
    params: SearchParams | None = None,
    allowed_ids: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` clips for each query by cosine similarity, optionally restricted to ``allowed_ids``.

    The filter runs inside FAISS as an ``IDSelectorBatch`` over clip ids (not by post-filtering), so every
    returned id is allowed and ``k`` results come back whenever ``k`` allowed clips exist. For approximate
    indexes a filter of selectivity ``s`` (``len(allowed_ids) / ntotal``) makes the search visit about ``1/s``
    times more IVF lists / HNSW candidates, which keeps recall near the tuned value.

    Thread-safe: knobs travel in per-call FAISS parameter objects, the index is only read.

    Args:
        index: An index from ``build_index`` / ``load_index``.
        queries: (Q, D) float query vectors, or one (D,) vector (treated as Q=1); normalised into a copy.
        k: Number of results per query (>= 1).
        params: Search knobs for this call; None or None fields: the index's current values (set by
            ``apply_search_params`` / ``load_index``).
        allowed_ids: Clip ids that may be returned; None: all. An empty array returns no hits (not an error).

    Returns:
        ``(scores, ids)``: float32 (Q, k) inner products (cosine similarities), descending, and int64 (Q, k) clip
        ids. Equal scores come in ascending clip id, also across the cut at ``k`` (the search fetches past ``k``
        until the tie ends), so the result is a function of the index contents and the query, not of the order
        the vectors were added in. Where fewer than ``k`` clips qualify, the row is padded with id ``-1`` and score
        ``-inf``.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    q = np.asarray(queries)
    if q.ndim == 1:
        q = q[None, :]
    q = normalized_chunk(check_vectors(q, index.d, "queries"), 0, "queries")
    nq = q.shape[0]
    parts = Layers.of(index)
    sel = None
    effective = _effective(parts, params)
    if allowed_ids is not None:
        allowed = check_ids(allowed_ids, "allowed_ids")
        if allowed.size == 0:
            return _empty_result(nq, k)
        sel = faiss.IDSelectorBatch(allowed)
        if index.ntotal:
            effective = _widen_for_filter(parts, effective, min(1.0, allowed.size / index.ntotal))
    if index.ntotal == 0 or nq == 0:
        return _empty_result(nq, k)
    keep: list = [sel]
    sp = _search_parameters(parts, effective, sel, keep)
    limit = int(index.ntotal) if allowed_ids is None else min(int(index.ntotal), int(allowed.size))
    fetch = min(k + TIE_MARGIN, max(limit, k))
    while True:
        scores, labels = index.search(q, fetch, params=sp)
        pad = labels < 0
        if pad.any():
            labels[pad] = -1
            scores[pad] = -np.inf
        scores, labels = _tie_broken(scores, labels)
        if fetch <= k or fetch >= limit or not _tie_at_cut(scores, k):
            break
        fetch = min(2 * fetch, limit)  # a tie runs past what was fetched: fetch more so the cut is by clip id
    del keep
    return np.ascontiguousarray(scores[:, :k]), np.ascontiguousarray(labels[:, :k])


def _tie_broken(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Each row by descending score, equal scores by ascending clip id, padding (-1, -inf) last.
    if scores.shape[1] < 2 or bool(np.all(scores[:, 1:] < scores[:, :-1])):
        return scores, labels  # strictly decreasing (no tie, no padding): already in that order
    padded = labels < 0
    order = np.lexsort((np.where(padded, np.iinfo(np.int64).max, labels), -scores.astype(np.float64)), axis=1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(labels, order, axis=1)


def _tie_at_cut(scores: np.ndarray, k: int) -> bool:
    # True when, in some row, the k-th score equals the last fetched one: clips tied with the k-th may be missing.
    kth, last = scores[:, k - 1], scores[:, -1]
    return bool(np.any(np.isfinite(kth) & (kth == last)))

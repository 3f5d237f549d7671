"""Embedding, index versions and search on the workspace: the glue between the catalog, the retriever and indexer.

Per-clip embedding failures are recorded in the catalog's ``runs`` table: one row per ``embed`` run (command
``embed``) whose JSON summary holds the counts, the model id and ``failures`` as ``[clip_id, error]`` pairs. A
failed clip has no vector, so the next run tries it again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adsearch.defaults import DEFAULT_RETRIEVER
from adsearch.retriever import ANNOTATION_SOURCES, RETRIEVER_TEXT_KINDS
from adsearch.workspace import Workspace

if TYPE_CHECKING:  # heavy modules are imported by the functions that use them: `index status` stays light
    from indexer.build import BuildResult, IndexStatus
    from indexer.runner import RunSummary
    from indexer.search import Hit, Searcher
    from retrieval import VideoTextRetriever

__all__ = [
    "TUNING_QUERIES",
    "add_catalogs",
    "build",
    "checkpoint_dir",
    "embed_catalog",
    "export_query_encoder",
    "format_hits",
    "load_retriever",
    "open_searcher",
    "prune_index",
    "remove_catalog",
    "require_catalog",
    "status",
    "update_text_indexes",
]

TUNING_QUERIES = 500  # catalog texts embedded as held-out queries when an approximate index is tuned

_log = logging.getLogger(__name__)
_RETRIEVERS: dict[tuple[str, str], Any] = {}  # (checkpoint folder, model_id) -> the retriever, loaded once a process
_RETRIEVERS_LOCK = threading.Lock()


def require_catalog(ws: Workspace) -> None:
    """Raise FileNotFoundError (naming the command to run) when the workspace has no catalog; imports nothing."""
    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog in {ws.root}; run `adsearch ingest` (or `adsearch demo`) first")


def checkpoint_dir(ws: Workspace, model: str) -> Path:
    """The retriever checkpoint folder: ``model`` as a path if it is a folder, else ``<ws>/models/<model>``.

    Raises:
        FileNotFoundError: no checkpoint there (the message names the command that makes one).
    """
    path = Path(model)
    if not path.is_dir():
        path = ws.models_dir / model
    if not (path / "config.json").is_file():
        known = (
            sorted(p.name for p in ws.models_dir.iterdir() if (p / "config.json").is_file())
            if ws.models_dir.is_dir()
            else []
        )
        raise FileNotFoundError(
            f"no retriever checkpoint {path} (models: {', '.join(known) or 'none'}); "
            "train one with `adsearch train-retriever` or pass --model"
        )
    return path


def _model_id(ws: Workspace, model: str) -> str:
    from retrieval import read_checkpoint_meta  # reads config.json: no torch

    return read_checkpoint_meta(checkpoint_dir(ws, model))["model_id"]


def load_retriever(ws: Workspace, model: str = DEFAULT_RETRIEVER) -> VideoTextRetriever:
    """The retriever checkpoint ``model`` (see ``checkpoint_dir``), loaded once per process and model_id: later
    calls return the same module (a retrained checkpoint has another model_id and is loaded anew).

    Raises:
        FileNotFoundError: no checkpoint.
        ValueError: not a retriever checkpoint, or weights that do not match it.
    """
    from retrieval import load_checkpoint, read_checkpoint_meta

    path = checkpoint_dir(ws, model).resolve()
    key = (str(path), read_checkpoint_meta(path)["model_id"])
    with _RETRIEVERS_LOCK:
        net = _RETRIEVERS.get(key)
        if net is None:
            net = load_checkpoint(path)
            if len(_RETRIEVERS) >= 2:  # a process uses one or two retrievers; older ones are dropped
                _RETRIEVERS.clear()
            _RETRIEVERS[key] = net
        return net


def _store(ws: Workspace, model: str):
    from indexer.vectors import VectorStore

    return VectorStore(ws.vectors_dir, _model_id(ws, model))


def _clip_items(ws: Workspace, splits: Sequence[str] | None, catalogs: Sequence[str] | None) -> list:
    from indexer.catalog import open_catalog
    from retrieval import ClipItem

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        known = cat.catalog_ids()
        rows = cat.clips_with_texts(splits=splits)
    unknown = sorted(set(catalogs or ()) - set(known))
    if unknown:
        raise ValueError(f"unknown catalog(s) {unknown}; catalogs: {', '.join(known) or '(none; ingest one)'}")
    if catalogs:
        rows = [r for r in rows if r["catalog_id"] in set(catalogs)]
    return [ClipItem(r["clip_id"], r["path"], r["start_s"], r["end_s"]) for r in rows]


def local_model_threads() -> int:
    """Torch intra-op threads of the model when the local runner embeds: this process's cores less one, left to the
    reader threads that decode ahead of the model (1 on 2 cores, where torch's default of 2 embedded 46.4 clips/s
    and 1 thread 52.9 on an idle machine: ``python -m benchmarks.speed --engines``, docs/SCALE.md)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``n`` inside the block and restored after (nothing done for None)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def embed_catalog(
    ws: Workspace,
    *,
    model: str = DEFAULT_RETRIEVER,
    splits: Sequence[str] | None = None,
    catalogs: Sequence[str] | None = None,
    batch_size: int = 16,
    workers: int = 2,
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
) -> RunSummary:
    """Embed the catalog's clips (ok videos, catalogs not retired) that have no vector yet for ``model``.

    Args:
        ws: The workspace.
        model: Retriever checkpoint name under ``models/`` or a checkpoint folder.
        splits: Only these splits (None: all).
        catalogs: Only these catalogs (None: all that are not retired).
        batch_size: Clips per forward pass and per shard.
        workers: Decoding threads (local engine).
        progress: Progress bar.
        engine: "local" (this process) or "ray" (Ray Data; the actors load the checkpoint, this process does not).
        ray_address: The Ray cluster (default: a local Ray for the run).

    Raises:
        FileNotFoundError: no catalog or no checkpoint.
        ValueError: an unknown catalog or engine, or Ray not installed.
    """
    from adsearch.engines import ray_options
    from indexer.catalog import open_catalog
    from indexer.embed import embed_clips
    from indexer.vectors import VectorStore

    items = _clip_items(ws, splits, catalogs)
    model_id = _model_id(ws, model)
    ray = ray_options(ws, f"embed-{model_id}", engine=engine, address=ray_address)
    net = load_retriever(ws, model) if ray is None else checkpoint_dir(ws, model)
    store = VectorStore(ws.vectors_dir, model_id)
    with _torch_threads(local_model_threads() if ray is None else None):
        summary = embed_clips(net, items, store, batch_size=batch_size, workers=workers, progress=progress, ray=ray)
    with open_catalog(ws.catalog_path) as cat:
        run_id = cat.new_run_id("embed")
        cat.start_run(run_id, "embed", ",".join(catalogs) if catalogs else None)
        cat.finish_run(run_id, {"model_id": model_id, "engine": engine, **summary.record()})
    return summary


def _tuning_queries(ws: Workspace, model: str, cat, n: int = TUNING_QUERIES):
    """A function giving up to ``n`` texts of the open catalog ``cat`` (reference / general / asr, a seeded
    sample) embedded by the retriever's text tower: held-out queries for tuning approximate indexes (called only
    for those, while ``cat`` is open)."""

    def embed_texts():
        import random

        from retrieval import encode_queries

        rows = cat.clips_with_texts(text_sources=ANNOTATION_SOURCES)
        texts = [t for r in rows for kind in RETRIEVER_TEXT_KINDS for t in r["texts"].get(kind, [])[:1]]
        texts = random.Random(0).sample(texts, min(n, len(texts)))
        return encode_queries(load_retriever(ws, model), texts)

    return embed_texts


def build(
    ws: Workspace, *, model: str = DEFAULT_RETRIEVER, factory: str | None = None, progress: bool = True
) -> BuildResult:
    """Build, tune and publish a new index version from the model's vectors (see ``indexer.build``)."""
    from indexer.build import build_index_version
    from indexer.catalog import open_catalog

    store = _store(ws, model)
    with open_catalog(ws.catalog_path) as cat:
        return build_index_version(
            cat,
            store,
            ws.indexes_dir,
            factory=factory,
            progress=progress,
            tuning_queries=_tuning_queries(ws, model, cat),
        )


def add_catalogs(
    ws: Workspace,
    *,
    model: str = DEFAULT_RETRIEVER,
    batch_size: int = 16,
    workers: int = 2,
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
) -> tuple[RunSummary, BuildResult]:
    """Embed clips not embedded yet (``engine``: see ``embed_catalog``), then add them to the published index (or
    rebuild; see ``indexer.build``)."""
    from indexer.build import add_index_version
    from indexer.catalog import open_catalog

    summary = embed_catalog(
        ws,
        model=model,
        batch_size=batch_size,
        workers=workers,
        progress=progress,
        engine=engine,
        ray_address=ray_address,
    )
    store = _store(ws, model)
    with open_catalog(ws.catalog_path) as cat:
        result = add_index_version(
            cat, store, ws.indexes_dir, progress=progress, tuning_queries=_tuning_queries(ws, model, cat)
        )
    return summary, result


def update_text_indexes(ws: Workspace, *, only_if_changed: bool = False, progress: bool = True, encoder=None) -> list:
    """Build and publish the text channels' indexes (description, speech, on-screen text: BM25 + dense) of the
    catalog's searchable clips; ``only_if_changed`` keeps a channel's published version when its texts did not
    change (``index add``). Returns one ``indexer.text_index.TextBuildResult`` per channel.

    Raises:
        FileNotFoundError: no catalog.
    """
    from indexer.catalog import open_catalog
    from indexer.text_index import TextEncoder, build_text_indexes

    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog in {ws.root}; run `adsearch ingest` (or `adsearch demo`) first")
    encoder = encoder or TextEncoder()
    with open_catalog(ws.catalog_path) as cat:
        return build_text_indexes(
            cat, encoder, ws.vectors_dir, ws.indexes_dir, only_if_changed=only_if_changed, progress=progress
        )


def _shares_text_backbone(text_config: Mapping[str, Any]) -> bool:
    """Whether the retriever's text backbone (``config.json``'s ``text``) is the text channels' encoder: the packaged
    MiniLM, frozen (a fine-tuned copy would not match the channels' vectors) and with its own truncation."""
    from indexer.text_index import DEFAULT_TEXT_MODEL

    return (
        text_config.get("tower") == "sentence_transformers"
        and text_config.get("model") == DEFAULT_TEXT_MODEL
        and text_config.get("max_seq_length") is None
        and bool(text_config.get("freeze"))
    )


def export_query_encoder(ws: Workspace, model: str = DEFAULT_RETRIEVER) -> str:
    """Export the retriever's text side to ONNX (``retrieval.onnx_text``) unless a valid export exists, so that
    searches encode queries without torch; returns one line for the CLI. A failed export is reported in that line
    (searches then use torch), never raised.

    Raises:
        FileNotFoundError: no checkpoint.
    """
    from retrieval import read_checkpoint_meta
    from retrieval.onnx_text import TextOnnx, TextOnnxError, export_text_onnx, supports_text_onnx

    path = checkpoint_dir(ws, model)
    meta = read_checkpoint_meta(path)
    model_id = meta["model_id"]
    if not supports_text_onnx(meta["config"]):
        tower = (meta["config"].get("text") or {}).get("tower")
        return f"query encoder: torch ({tower} text tower; only sentence-transformers towers are exported to ONNX)"
    t0 = time.perf_counter()
    try:
        TextOnnx.open(path, model_id=model_id)
        return f"query encoder: ONNX export of {model_id} is up to date"
    except TextOnnxError as e:
        _log.info("%s: exporting it", e)
    except ImportError as e:
        return f"query encoder: torch (onnxruntime is not installed: {e})"
    try:
        written = export_text_onnx(path, model=load_retriever(ws, model))
    except (ImportError, OSError, ValueError) as e:
        _log.warning("ONNX export of %s failed", model_id, exc_info=True)
        return f"query encoder: torch (the ONNX export of {model_id} failed: {e})"
    return f"query encoder: ONNX export of {model_id} in {written.parent} ({time.perf_counter() - t0:.1f} s)"


def remove_catalog(ws: Workspace, catalog: str) -> int:
    """Retire ``catalog`` from search (rows stay); returns its number of ok videos."""
    from indexer.build import retire_catalog
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path) as cat:
        return retire_catalog(cat, catalog)


def status(ws: Workspace, *, model: str = DEFAULT_RETRIEVER) -> IndexStatus:
    """Versions of the model's index and what is not yet embedded / indexed."""
    from indexer.build import index_status
    from indexer.catalog import open_catalog

    store = _store(ws, model)
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        return index_status(cat, store, ws.indexes_dir)


def prune_index(ws: Workspace, *, model: str = DEFAULT_RETRIEVER, keep: int = 1) -> list[str]:
    """Delete old index versions of the model, keeping the published one and the newest ``keep``."""
    from indexer.build import prune_versions
    from indexer.catalog import open_catalog
    from indexer.channels import TEXT_CHANNELS
    from indexer.text_index import TextEncoder, text_model_id

    model_id = _model_id(ws, model)
    text_ids = [text_model_id(ch, TextEncoder().encoder_id) for ch in TEXT_CHANNELS]
    with open_catalog(ws.catalog_path) as cat:
        deleted = prune_versions(cat, ws.indexes_dir, model_id, keep=keep)
        for tid in text_ids:
            deleted += [f"{tid}/{name}" for name in prune_versions(cat, ws.indexes_dir, tid, keep=keep)]
        return deleted


def open_searcher(
    ws: Workspace,
    model: str = DEFAULT_RETRIEVER,
    *,
    onnx: bool = True,
    export_onnx: bool = False,
    copy_catalog: bool = True,
    onnx_threads: int | None = None,
) -> Searcher:
    """A ``Searcher`` over the workspace's published index for ``model``, encoding queries with its text tower.

    The cheap checks (catalog, checkpoint, vectors, published index: files and JSON) come before any model is loaded.

    Args:
        ws: The workspace.
        model: Retriever checkpoint name under ``models/`` or a checkpoint folder.
        onnx: Encode queries with the checkpoint's ONNX text export (``retrieval.onnx_text``) when it has a valid
            one, so the process never imports torch; otherwise (or False) with the torch text tower, loaded once per
            process (``load_retriever``).
        export_onnx: Export it first when it is missing or stale (loads torch once, some seconds).
        copy_catalog: Search an in-memory copy of the catalog (long-running searchers); False reads the file
            through views (one search and exit; see ``indexer.catalog_snapshot``).
        onnx_threads: onnxruntime threads per query encode (``TextOnnx.open``; None: its default); the service
            passes 1 and runs searches in parallel.

    The searcher may be called from several threads at once: the ONNX encoder is thread-safe; the torch encoder
    (no valid ONNX export) is called under a lock (its tokenizer is not thread-safe).

    Raises:
        FileNotFoundError: no catalog, no checkpoint, no vectors or no published index (the message names the
            command to run).
    """
    require_catalog(ws)
    from retrieval import read_checkpoint_meta

    path = checkpoint_dir(ws, model)
    meta = read_checkpoint_meta(path)

    from indexer.vectors import VectorStore
    from indexer.versions import active_version

    store = VectorStore(ws.vectors_dir, meta["model_id"])
    if not store.shards():
        raise FileNotFoundError(f"no vectors for model {store.model_id} in {store.path}; run `adsearch embed` first")
    if active_version(ws.indexes_dir, store.model_id) is None:
        raise FileNotFoundError(f"no published index for model {store.model_id}; run `adsearch index build` first")

    from indexer.search import Searcher
    from indexer.text_index import TextChannels, TextEncoder

    text_onnx = None
    torch_lock = threading.Lock()  # the torch encoders' shared backbone: one call at a time
    if onnx:
        from retrieval.onnx_text import load_text_onnx

        text_onnx = load_text_onnx(path, export=export_onnx, threads=onnx_threads)
    if text_onnx is not None:
        encode_text = text_onnx.encode_queries
        backbone = text_onnx.sentence_model()
    else:
        from retrieval import encode_queries

        net = load_retriever(ws, model)

        def encode_text(texts: list[str]):
            with torch_lock:  # a HF fast tokenizer raises "Already borrowed" when two threads call it at once
                return encode_queries(net, texts)

        backbone = getattr(net.text, "backbone", None)
    shared = backbone if _shares_text_backbone(meta["config"].get("text") or {}) else None
    return Searcher(
        ws.catalog_path,
        ws.indexes_dir,
        model_id=store.model_id,
        encode_text=encode_text,
        workspace_root=ws.root,
        text_channels=TextChannels(ws.indexes_dir, TextEncoder(backbone=shared, encode_lock=torch_lock)),
        copy_catalog=copy_catalog,
    )


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_hits(hits: list[Hit], *, text_width: int = 60) -> str:
    """A fixed-width table: rank, score, clip, catalog, labels, start-end, the start of the fine/general text."""
    if not hits:
        return "no hits (no indexed clip matches the filters)"
    if any(h.channels for h in hits):
        return _format_channel_hits(hits, text_width=text_width)
    lines = [f"{'#':>3} {'score':>6} {'clip':>20} {'catalog':<14} {'labels':<34} {'start-end':>13}  text"]
    for h in hits:
        labels = "/".join(v for v in (h.labels.get("industry"), h.labels.get("product") or h.labels.get("game")) if v)
        labels = f"{labels} [{h.labels.get('split') or '-'}]"
        text = h.texts.get("fine") or h.texts.get("general") or h.texts.get("reference") or h.texts.get("asr")
        lines.append(
            f"{h.rank:>3} {h.score:>6.3f} {h.clip_id:>20} {_short(h.catalog_id, 14):<14} {_short(labels, 34):<34} "
            f"{h.start_s:>6.2f}-{h.end_s:<6.2f}  {_short(text, text_width)}"
        )
    return "\n".join(lines)


def _format_channel_hits(hits: list[Hit], *, text_width: int) -> str:
    """Fused hits, one line each: rank, fused score, clip, catalog, labels, start-end, the channels that matched and
    the snippet (``channel: text`` with the matched words in [brackets]; a match by meaning has none)."""
    lines = [
        f"{'#':>3} {'score':>7} {'clip':>20} {'catalog':<14} {'labels':<34} {'start-end':>13}  {'channels':<27} snippet"
    ]
    for h in hits:
        labels = "/".join(v for v in (h.labels.get("industry"), h.labels.get("product") or h.labels.get("game")) if v)
        labels = f"{labels} [{h.labels.get('split') or '-'}]"
        if h.snippet is not None:
            snippet = f"{h.snippet.channel}: {h.snippet.highlighted()}"
        else:
            snippet = h.texts.get("fine") or h.texts.get("general") or h.texts.get("asr") or ""
        lines.append(
            f"{h.rank:>3} {h.score:>7.4f} {h.clip_id:>20} {_short(h.catalog_id, 14):<14} {_short(labels, 34):<34} "
            f"{h.start_s:>6.2f}-{h.end_s:<6.2f}  {','.join(h.channels) or '-':<27} {_short(snippet, text_width)}"
        )
    return "\n".join(lines)

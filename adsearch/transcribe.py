"""Transcribing the catalog's videos as a stage (the glue between ``indexer.transcribe`` and the workspace).

``adsearch ingest`` transcribes each video inline by default; ``adsearch transcribe`` transcribes, afterwards, the ok
videos that have no ASR text yet (ingested with ``--no-asr``, or whose inline ASR failed), on the local runner or on
Ray Data (``--engine ray``), with the same texts as ingest's inline ASR (``indexer/transcribe.py``).
"""

from __future__ import annotations

from typing import Any

from adsearch.workspace import Workspace

__all__ = ["transcribe_catalog"]


def transcribe_catalog(
    ws: Workspace,
    *,
    model: str | None = None,
    batch_size: int = 4,
    workers: int = 2,
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
) -> Any:
    """Transcribe the catalog's ok videos that have an audio stream and no ASR text yet (resumable).

    Each batch's texts (kind ``asr``, source ``whisper:<model>``, one per clip with words) and ``transcribed`` rows
    are written in one transaction, so a killed run resumes and a second run does nothing. A video whose audio
    cannot be decoded is reported (summary, ``runs`` table) and the rest goes on; a model that fails every batch
    (e.g. it cannot be loaded) stops the run with ``ModelError``.

    Args:
        ws: The workspace.
        model: faster-whisper model folder or size name (None: the packaged tiny.en, offline).
        batch_size: Videos per model call and per catalog write.
        workers: Audio-decoding threads (local engine).
        progress: Show a progress bar.
        engine: "local" (this process) or "ray" (Ray Data: the actors load Whisper).
        ray_address: The Ray cluster (default: a local Ray for the run).

    Returns:
        The run's ``RunSummary`` (items are videos; failures are keyed by the video's first clip id).

    Raises:
        FileNotFoundError: no catalog.
        ValueError: an invalid batch size, worker count or engine, or Ray not installed.
        ModelError: the model failed every batch.
    """
    from adsearch.engines import ray_options
    from indexer.catalog import open_catalog
    from indexer.runner import ModelError, RunSummary
    from indexer.transcribe import asr_items, transcribe_stage, transcribe_videos

    if batch_size < 1 or workers < 1:
        raise ValueError(f"batch size and workers must be >= 1, got {batch_size}, {workers}")
    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog at {ws.catalog_path}: run `adsearch ingest` first")
    ray = ray_options(ws, "transcribe", engine=engine, address=ray_address)
    with open_catalog(ws.catalog_path) as cat:
        items = asr_items(cat)
        if not items:  # nothing loaded, nothing recorded
            return RunSummary(desc=transcribe_stage(model).desc)
        run_id = cat.new_run_id("transcribe")
        cat.start_run(run_id, "transcribe", None)
        try:
            summary = transcribe_videos(
                cat, items, model=model, batch_size=batch_size, workers=workers, progress=progress, ray=ray
            )
        except ModelError as e:  # recorded as stopped, then raised (exit 1)
            _finish(cat, run_id, e.summary, engine, model, len(items), stopped=str(e))
            raise
        _finish(cat, run_id, summary, engine, model, len(items), stopped=None)
    return summary


def _finish(cat: Any, run_id: str, s: Any, engine: str, model: str | None, videos: int, stopped: str | None) -> None:
    cat.finish_run(run_id, {"engine": engine, "model": model, "videos": videos, **s.record(), "stopped": stopped})

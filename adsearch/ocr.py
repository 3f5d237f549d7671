"""Reading the on-screen text of the catalog's clips (the glue between indexer's runner and catalog and media.ocr).

Each clip gets one ``texts`` row: ``kind='ocr'``, ``source='rapidocr:<version>'``, ``text`` = the clip's merged
lines joined by newlines ('' when it shows no text, so that a later run skips it), and ``meta`` = JSON
``{"lines": [{"text", "t_s", "box": [x0, y0, x1, y1], "score", "frames"}], "frames_sampled", "frames_read",
"width", "height"}`` (times in seconds in the video, boxes in native pixels; see ``media.ocr.ClipOcr.meta``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adsearch.workspace import Workspace

__all__ = ["OcrItem", "done_clips", "ocr_catalog", "ocr_items", "run_ocr"]


@dataclass(frozen=True)
class OcrItem:
    """A clip to read: its id, video file and time range."""

    clip_id: int
    path: str
    start_s: float
    end_s: float


def ocr_items(ws: Workspace) -> list[OcrItem]:
    """Every clip of the catalog's ok videos, by clip id.

    Raises:
        FileNotFoundError: no catalog yet.
    """
    from indexer.catalog import open_catalog

    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog at {ws.catalog_path}: run `adsearch ingest` first")
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query(
            "SELECT c.clip_id, v.path, c.start_s, c.end_s FROM clips c JOIN videos v USING (video_id) "
            "WHERE v.status = 'ok' ORDER BY c.clip_id"
        )
    return [OcrItem(r["clip_id"], r["path"], r["start_s"], r["end_s"]) for r in rows]


def done_clips(ws: Workspace, source: str) -> set[int]:
    """Ids of the clips that already hold an OCR text from ``source``."""
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query("SELECT clip_id FROM texts WHERE kind = 'ocr' AND source = ?", [source])
    return {r["clip_id"] for r in rows}


def run_ocr(
    engine: Any,
    items: Sequence[OcrItem],
    *,
    write: Callable[[Sequence[OcrItem], Sequence[Any]], None],
    done: set[int] | frozenset[int] = frozenset(),
    batch_size: int = 16,
    workers: int = 2,
    progress: bool = True,
) -> Any:
    """Read ``items`` with ``engine`` (a ``media.OcrEngine``) through ``indexer.runner.run_clips``: frames are
    decoded in ``workers`` reader threads, clips of a batch are read on the engine's parallel sessions and each
    batch is handed to ``write(items, [ClipOcr, ...])``.

    Returns:
        The runner's ``RunSummary``.
    """
    from indexer.runner import run_clips
    from media.ocr import sample_clip

    n = engine.options.frames
    return run_clips(
        items,
        key=lambda it: it.clip_id,
        done=done,
        read=lambda it: sample_clip(it.path, it.start_s, it.end_s, n),
        map_batch=engine.read_batch,
        write=write,
        batch_size=batch_size,
        workers=workers,
        progress=progress,
        desc="ocr",
    )


def ocr_catalog(
    ws: Workspace,
    *,
    options: Any = None,
    threads: int = 2,
    batch_size: int = 16,
    workers: int = 2,
    overwrite: bool = False,
    progress: bool = True,
) -> Any:
    """Read the on-screen text of every clip of the catalog and store it as ``kind='ocr'`` texts (resumable).

    Texts are written batch by batch, so a killed run resumes: clips that already hold an OCR text from this
    engine's source are skipped (nothing is loaded when none is left), unless ``overwrite``. A clip whose frames
    cannot be decoded is reported in the summary and the rest goes on.

    Args:
        ws: The workspace.
        options: ``media.OcrOptions`` (default: its defaults).
        threads: Clips read in parallel (one single-threaded ONNX session pair each).
        batch_size: Clips per batch (per catalog write).
        workers: Frame-decoding threads.
        overwrite: Read clips again and replace their OCR texts from this source.
        progress: Show a progress bar.

    Returns:
        The runner's ``RunSummary``.

    Raises:
        FileNotFoundError: no catalog.
        ValueError: invalid options, threads, batch size or workers.
    """
    from indexer.catalog import open_catalog
    from indexer.runner import RunSummary
    from media.ocr import OcrEngine, ocr_source

    if threads < 1 or batch_size < 1 or workers < 1:
        raise ValueError(f"threads, batch size and workers must be >= 1, got {threads}, {batch_size}, {workers}")
    items = ocr_items(ws)
    source = ocr_source()
    done = set() if overwrite else done_clips(ws, source)
    if all(it.clip_id in done for it in items):  # cheap check before loading the models
        return RunSummary(skipped=len(items), desc="ocr")
    engine = OcrEngine(options, threads=threads)
    with open_catalog(ws.catalog_path) as cat:

        def write(batch: Sequence[OcrItem], results: Sequence[Any]) -> None:
            cat.upsert_texts(
                (it.clip_id, "ocr", r.text, source, r.meta()) for it, r in zip(batch, results, strict=True)
            )

        return run_ocr(engine, items, write=write, done=done, batch_size=batch_size, workers=workers, progress=progress)

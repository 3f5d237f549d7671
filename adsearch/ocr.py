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

__all__ = ["OcrItem", "OcrLoader", "OcrReader", "done_clips", "ocr_catalog", "ocr_items", "ocr_stage", "run_ocr"]


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


@dataclass(frozen=True)
class OcrReader:
    """The OCR stage's reader: ``frames`` frames of a clip at native resolution (``media.ocr.sample_clip``)."""

    frames: int

    def __call__(self, item: OcrItem) -> Any:
        from media.ocr import sample_clip

        return sample_clip(item.path, item.start_s, item.end_s, self.frames)


@dataclass(frozen=True)
class OcrLoader:
    """The OCR stage's model: a ``media.OcrEngine`` (``options``, ``threads`` sessions) loaded where the stage runs,
    or ``engine`` when one is loaded already; returns its ``read_batch``."""

    options: Any = None
    threads: int = 2
    engine: Any = None

    def __call__(self) -> Callable[[list], list]:
        from media.ocr import OcrEngine

        return (self.engine or OcrEngine(self.options, threads=self.threads)).read_batch


def ocr_stage(options: Any = None, *, threads: int = 2, engine: Any = None) -> Any:
    """The OCR stage (``indexer.stage.ClipStage``): ``OcrReader`` then ``OcrLoader``, for either engine."""
    from indexer.stage import ClipStage
    from media.ocr import OcrOptions

    options = engine.options if engine is not None else (options or OcrOptions())
    return ClipStage(desc="ocr", read=OcrReader(options.frames), load=OcrLoader(options, threads, engine))


def run_ocr(
    engine: Any,
    items: Sequence[OcrItem],
    *,
    write: Callable[[Sequence[OcrItem], Sequence[Any]], None],
    done: set[int] | frozenset[int] = frozenset(),
    batch_size: int = 16,
    workers: int = 2,
    progress: bool = True,
    ray: Any = None,
) -> Any:
    """Read ``items`` with ``engine`` (a ``media.OcrEngine``, or an ``OcrLoader`` that loads one where the stage
    runs) through ``indexer.stage.run_stage``: frames are decoded in ``workers`` reader threads (or Ray tasks when
    ``ray``, an ``indexer.stage.RayOptions``, is given), clips of a batch are read on the engine's parallel sessions
    and each batch is handed to ``write(items, [ClipOcr, ...])``.

    Returns:
        The run's ``RunSummary``.
    """
    from indexer.stage import run_stage

    if ray is not None or isinstance(engine, OcrLoader):  # loaded where the stage runs (ONNX sessions do not pickle)
        stage = ocr_stage(engine.options, threads=engine.threads)
    else:
        stage = ocr_stage(engine=engine)
    return run_stage(
        stage, items, done=done, write=write, batch_size=batch_size, workers=workers, progress=progress, ray=ray
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
    engine: str = "local",
    ray_address: str | None = None,
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
        engine: "local" (this process) or "ray" (Ray Data: the actors load the OCR models).
        ray_address: The Ray cluster (default: a local Ray for the run).

    Returns:
        The runner's ``RunSummary``.

    Raises:
        FileNotFoundError: no catalog.
        ValueError: invalid options, threads, batch size, workers or engine, or Ray not installed.
    """
    from adsearch.engines import ray_options
    from indexer.catalog import open_catalog
    from indexer.runner import RunSummary
    from media.ocr import OcrEngine, OcrOptions, ocr_source

    if threads < 1 or batch_size < 1 or workers < 1:
        raise ValueError(f"threads, batch size and workers must be >= 1, got {threads}, {batch_size}, {workers}")
    items = ocr_items(ws)
    source = ocr_source()
    done = set() if overwrite else done_clips(ws, source)
    ray = ray_options(ws, "ocr", engine=engine, address=ray_address)
    if all(it.clip_id in done for it in items):  # cheap check before loading the models
        return RunSummary(skipped=len(items), desc="ocr")
    ocr = OcrEngine(options, threads=threads) if ray is None else OcrLoader(options or OcrOptions(), threads)
    with open_catalog(ws.catalog_path) as cat:

        def write(batch: Sequence[OcrItem], results: Sequence[Any]) -> None:
            cat.upsert_texts(
                (it.clip_id, "ocr", r.text, source, r.meta()) for it, r in zip(batch, results, strict=True)
            )

        return run_ocr(
            ocr, items, write=write, done=done, batch_size=batch_size, workers=workers, progress=progress, ray=ray
        )

"""``adsearch`` command: ocr (the on-screen text of the catalog's clips), and the OCR step of ``ingest``."""

from __future__ import annotations

import argparse
import sys

from adsearch.engines import add_engine_args
from adsearch.workspace import Workspace

__all__ = ["add_commands", "ocr_after_ingest"]


def _run(
    ws: Workspace,
    *,
    frames: int | None = None,
    threads: int = 2,
    batch_size: int = 16,
    overwrite: bool = False,
    engine: str = "local",
    ray_address: str | None = None,
):
    from adsearch.ocr import ocr_catalog
    from media.ocr import OcrOptions

    options = OcrOptions() if frames is None else OcrOptions(frames=frames)
    summary = ocr_catalog(
        ws,
        options=options,
        threads=threads,
        batch_size=batch_size,
        overwrite=overwrite,
        engine=engine,
        ray_address=ray_address,
    )
    for clip_id, error in summary.failures:
        print(f"  failed: clip {clip_id}: {error}", file=sys.stderr)
    print(summary.line())
    return summary


def cmd_ocr(args: argparse.Namespace) -> int:
    _run(
        Workspace.resolve(args.workspace),
        frames=args.frames,
        threads=args.threads,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        engine=args.engine,
        ray_address=args.ray_address,
    )
    return 0


def ocr_after_ingest(ws: Workspace) -> None:
    """The OCR step that ``adsearch ingest`` (and the demo) run after ingesting, unless ``--no-ocr``."""
    _run(ws)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this module's commands on the ``adsearch`` sub-command parser."""
    o = sub.add_parser(
        "ocr",
        help="read the on-screen text of every clip (rapidocr PP-OCRv4 on CPU) into texts kind 'ocr' (resumable)",
    )
    o.add_argument("--frames", type=int, default=None, help="frames sampled per clip (default: media.OcrOptions, 3)")
    o.add_argument("--threads", type=int, default=2, help="clips read in parallel (default %(default)s)")
    o.add_argument("--batch-size", type=int, default=16, help="clips per catalog write (default %(default)s)")
    o.add_argument(
        "--overwrite",
        action="store_true",
        help="read clips that already have an OCR text from this engine again and replace it (default: skip them)",
    )
    add_engine_args(o)
    o.set_defaults(func=cmd_ocr)

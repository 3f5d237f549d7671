"""``adsearch`` command: transcribe (ASR of the catalog's videos that have no transcript yet, as a stage)."""

from __future__ import annotations

import argparse
import sys

from adsearch.engines import add_engine_args
from adsearch.workspace import Workspace

__all__ = ["add_commands"]


def cmd_transcribe(args: argparse.Namespace) -> int:
    from adsearch.transcribe import transcribe_catalog

    summary = transcribe_catalog(
        Workspace.resolve(args.workspace),
        model=args.asr_model,
        batch_size=args.batch_size,
        workers=args.workers,
        engine=args.engine,
        ray_address=args.ray_address,
    )
    for clip_id, error in summary.failures:
        print(f"  failed: video of clip {clip_id}: {error}", file=sys.stderr)
    print(summary.line().replace(" items/s", " videos/s"))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this module's commands on the ``adsearch`` sub-command parser."""
    t = sub.add_parser(
        "transcribe",
        help="transcribe (faster-whisper) the ok videos that have no ASR text yet, e.g. ingested with --no-asr, "
        "into texts kind 'asr' (resumable; the texts ingest writes inline)",
    )
    t.add_argument(
        "--asr-model", default=None, help="faster-whisper model folder or size (default: packaged tiny.en, offline)"
    )
    t.add_argument("--batch-size", type=int, default=4, help="videos per model call and write (default %(default)s)")
    t.add_argument("--workers", type=int, default=2, help="audio-decoding threads (default %(default)s)")
    add_engine_args(t)
    t.set_defaults(func=cmd_transcribe)

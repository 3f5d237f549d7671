"""A tiny searchable workspace for the embed / index / search tests: real videos, DuckDB catalog, tiny retriever.

Six short h264 videos of two flat-colour shots each (12 clips) with industry / product / game / split labels, a
retriever with a small open_clip text tower (random weights: these tests check plumbing, not relevance) saved as
``models/retriever-tiny``.
"""

from __future__ import annotations

from pathlib import Path

from adsearch.workspace import Workspace
from corpus.manifest import ClipRecord, VideoRecord, write_manifest
from indexer.catalog import open_catalog
from indexer.ingest import IngestOptions, ingest
from retrieval import create_model, save_checkpoint
from tests.retrieval.retrieval_helpers import open_clip_text_config

from .conftest import make_video

PALETTE = [(200, 30, 30), (30, 160, 40), (30, 40, 200), (220, 200, 40), (160, 40, 180), (240, 240, 240)]
LABELS = [  # (industry, product, game, split) per video
    ("games", None, "rpg", "train"),
    ("games", None, "moba", "test"),
    ("e-commerce", "bottle", None, "train"),
    ("e-commerce", "shoe", None, "test"),
    ("finance", None, None, "test"),
    ("games", None, "rpg", "test"),
]


def write_catalog(root: Path, n_videos: int = 6, seed: int = 0) -> Path:
    """Videos + a manifest with two clips per video and labels from ``LABELS``; returns the manifest path."""
    records = []
    (root / "videos").mkdir(parents=True, exist_ok=True)
    for i in range(n_videos):
        colours = [PALETTE[(i + seed) % 6], PALETTE[(i + seed + 3) % 6]]
        make_video(root / "videos" / f"v{i}.mp4", colours, seed=100 * seed + i)
        industry, product, game, split = LABELS[i % len(LABELS)]
        clips = (
            ClipRecord(0.0, 1.5, reference=f"clip a of video {i}", general=f"video {i} start"),
            ClipRecord(1.5, 3.0, reference=f"clip b of video {i}", general=f"video {i} end"),
        )
        records.append(
            VideoRecord(
                uri=f"videos/v{i}.mp4",
                clips=clips,
                asr=f"voice over {i}",
                industry=industry,
                product=product,
                game=game,
                split=split,
            )
        )
    return write_manifest(records, root / "manifest.jsonl")


def ingest_catalog(ws: Workspace, manifest: Path, catalog_id: str) -> None:
    opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=False, workers=1)
    with open_catalog(ws.catalog_path) as cat:
        summary = ingest(manifest, cat, opts=opts, catalog_id=catalog_id)
    assert summary.failed == 0, summary.failures


def tiny_workspace(root: Path) -> Workspace:
    """A workspace with catalog 'main' ingested and an untrained tiny retriever saved as models/retriever-tiny."""
    ws = Workspace(root)
    ingest_catalog(ws, write_catalog(root / "src-main"), "main")
    save_checkpoint(create_model(open_clip_text_config()), ws.models_dir / "retriever-tiny")
    return ws

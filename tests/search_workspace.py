"""A tiny searchable workspace for the recall benchmark and app tests, built once per test session.

Real parts throughout: a synthetic catalog rendered to h264 files, ingested into DuckDB, a tiny retriever trained
for one epoch, the clips embedded (decord decodes the frames) into the vector store and a published FAISS index.
The fine and general captioners are not trained here (minutes each): their captions are stood in for by the
manifest's reference description and general caption, written as generated texts with ``upsert_texts`` under a
captioner-like source.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adsearch.workspace import Workspace

N_CLIPS = 40  # with the synthetic split shares: a test gallery of a few clips and a compositional split
MODEL = "retriever-tiny"
STAND_IN_SOURCE = "stand-in-captioner"  # the source of the caption texts the test writes in place of a captioner


def build_index(ws: Workspace, model: str = MODEL) -> str:
    """Embed every clip of the catalog with ``model`` and publish a FAISS index (``adsearch embed`` + ``index build``
    through their library functions); returns the published version."""
    from adsearch.index import build, embed_catalog

    embed_catalog(ws, model=model, workers=1, progress=False)
    return build(ws, model=model, progress=False).version


def write_stand_in_captions(ws: Workspace) -> int:
    """Generated-caption rows (kinds fine and general) for every clip, copied from the manifest's texts."""
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path) as cat:
        rows = cat.query(
            "SELECT clip_id, kind, text FROM texts WHERE source = 'manifest' AND kind IN ('reference', 'general')"
        )
        fine_kind = {"reference": "fine", "general": "general"}
        return cat.upsert_texts((r["clip_id"], fine_kind[r["kind"]], r["text"], STAND_IN_SOURCE) for r in rows)


def build_search_workspace(root: Path) -> Workspace:
    """Synth -> ingest -> train (1 epoch) -> stand-in captions -> index, into ``root`` (reused when complete)."""
    from adsearch.retriever import train_from_catalog
    from corpus.synth import generate_catalog
    from indexer.catalog import open_catalog
    from indexer.ingest import IngestOptions, ingest

    ws = Workspace.resolve(root)
    done = root / ".complete"
    if done.is_file():
        return ws
    synth = generate_catalog(ws.synth_dir(N_CLIPS, 0), n_clips=N_CLIPS, seed=0, workers=1)
    opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=False, workers=1)
    with open_catalog(ws.catalog_path) as cat:
        ingest(synth.manifest_path, cat, opts=opts)
    train_from_catalog(ws, config="tiny", epochs=1, batch_size=8, eval_splits=())
    write_stand_in_captions(ws)
    build_index(ws)
    done.touch()
    return ws


def session_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The test session's tiny searchable workspace: built by the first module that asks, reused by the others."""
    return build_search_workspace(tmp_path_factory.getbasetemp() / "search-ws")

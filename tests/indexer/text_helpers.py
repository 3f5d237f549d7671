"""A tiny workspace with text channels for the text-index and fusion tests, built once per test session.

The indexer tests' tiny workspace (6 h264 videos, 12 clips, an untrained tiny retriever, a published video index)
plus generated-looking texts written with ``upsert_texts``: fine descriptions, on-screen text (OCR lines with brand
words), a voice-over, a reference description and keywords with a word no other text has. The text channels are
indexed with the real packaged MiniLM and tantivy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from adsearch import index as ws_index
from adsearch.workspace import Workspace
from indexer.catalog import open_catalog
from indexer.search import Searcher
from indexer.text_index import TextChannels, TextEncoder
from retrieval import encode_queries, load_checkpoint

CAPTIONER = "test-captioner"
OCR = "test-ocr"
SECRET = "zorblax"  # only in a reference description and in keywords: must never be searchable

# (video, shot) -> {kind: text}
TEXTS: dict[tuple[int, int], dict[str, str]] = {
    (0, 0): {
        "fine": "A woman in a yellow polka-dot dress waves to the camera on a busy city street. She smiles.",
        "general": "A woman waving on a city street.",  # a generated caption, as every clip of a real catalog has
        "ocr": "KOVA\nRUNNING SHOES\n$49.99",
    },
    (0, 1): {
        "fine": "A man repairs a bicycle wheel in a garage full of tools.",
        "reference": f"A man holds a {SECRET} gizmo that glows blue.",
        "keywords": f"{SECRET}; gizmo",
    },
    (1, 0): {
        "fine": "Two armored knights fight a fire-breathing dragon in front of a castle.",
        "ocr": "LEVEL UP\nPLAY NOW",
    },
    (1, 1): {"ocr": "MEGA SALE"},
    (2, 0): {
        "fine": "A green shampoo bottle spins slowly on a white table.",
        "ocr": "JADE\n50% OFF",
        "asr": "Get fifty percent off today. Free shipping on every order, so order now.",
    },
    (3, 0): {"fine": "Close-up of white sneakers on a running track at sunset.", "ocr": "KOVA\nSALE"},
    (4, 0): {"fine": "A smiling family counts coins at a kitchen table."},
    (4, 1): {"ocr": "MEGA SALE"},
    (5, 1): {"ocr": "MEGA SALE"},
}
SOURCES = {
    "fine": CAPTIONER,
    "general": "test-general-captioner",
    "ocr": OCR,
    "asr": "whisper:test",
    "reference": "annotator",
    "keywords": "annotator",
}


@dataclass(frozen=True)
class TextWorkspace:
    ws: Workspace
    clips: dict[tuple[int, int], int]  # (video index, shot index) -> clip id
    encoder: TextEncoder


def clip_ids(ws: Workspace) -> dict[tuple[int, int], int]:
    """(video index from its file name v<i>.mp4, shot index) -> clip id, for the catalog 'main'."""
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query(
            "SELECT c.clip_id, c.shot_index, v.path FROM clips c JOIN videos v USING (video_id) "
            "WHERE v.catalog_id = 'main'"
        )
    return {(int(Path(r["path"]).stem[1:]), r["shot_index"]): r["clip_id"] for r in rows}


def write_texts(ws: Workspace, clips: dict[tuple[int, int], int]) -> None:
    with open_catalog(ws.catalog_path) as cat:
        cat.upsert_texts(
            (clips[key], kind, text, SOURCES[kind]) for key, texts in TEXTS.items() for kind, text in texts.items()
        )


def build_text_workspace(root: Path, encoder: TextEncoder) -> TextWorkspace:
    """The indexer tests' tiny workspace, embedded and indexed, with ``TEXTS`` written and the text channels built."""
    from .index_helpers import tiny_workspace  # imported here: index_helpers imports the conftest, which imports us

    ws = tiny_workspace(root)
    ws_index.embed_catalog(ws, workers=1, progress=False)
    ws_index.build(ws, progress=False)
    clips = clip_ids(ws)
    write_texts(ws, clips)
    results = ws_index.update_text_indexes(ws, encoder=encoder, progress=False)
    assert [r.mode for r in results] == ["build"] * 3
    return TextWorkspace(ws, clips, encoder)


def searcher(ws: Workspace, encoder: TextEncoder, *, text: bool = True) -> Searcher:
    """A Searcher over the workspace that checks for new versions on every search."""
    net = load_checkpoint(ws.models_dir / "retriever-tiny")
    return Searcher(
        ws.catalog_path,
        ws.indexes_dir,
        model_id=ws_index._model_id(ws, "retriever-tiny"),
        encode_text=lambda texts: encode_queries(net, texts),
        workspace_root=ws.root,
        check_interval_s=0.0,
        text_channels=TextChannels(ws.indexes_dir, encoder, check_interval_s=0.0) if text else None,
    )


@pytest.fixture(scope="session")
def text_encoder() -> TextEncoder:
    """The packaged MiniLM, loaded once per session."""
    return TextEncoder()


@pytest.fixture(scope="session")
def text_ws(tmp_path_factory: pytest.TempPathFactory, text_encoder: TextEncoder) -> TextWorkspace:
    """The session's text workspace (tests that change it work on a copy: ``copy_text_ws``)."""
    return build_text_workspace(tmp_path_factory.mktemp("text-ws"), text_encoder)

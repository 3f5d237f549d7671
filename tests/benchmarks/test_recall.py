"""``python -m benchmarks.recall`` on a tiny real workspace: JSON, table, plot, and the messages for missing parts."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from adsearch.workspace import Workspace
from benchmarks._recall_data import MISSING_SCORE, index_similarity
from benchmarks.recall import build_parser, main
from tests.search_workspace import STAND_IN_SOURCE, session_workspace


@pytest.fixture(scope="module")
def search_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return session_workspace(tmp_path_factory)


def _copy(ws: Workspace, dest: Path) -> Workspace:
    shutil.copytree(ws.root, dest, symlinks=True)
    return Workspace.resolve(dest)


def test_recall_json_table_and_plot(search_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from adsearch.retriever import catalog_items
    from retrieval import evaluate_retrieval, load_checkpoint

    out = tmp_path / "bench"
    args = ["--workspace", str(search_ws.root), "--out", str(out), "--exact", "--kmax", "10", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "paper Table 8 (reported, not measured here)" in printed and "| 86.7 | 99 | 99.7 |" in printed
    result = json.loads((out / "recall.json").read_text())
    assert (out / "recall.md").read_text().strip() in printed
    assert (out / "recall_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    test_set, comp_set = result["sets"]
    assert (test_set["split"], comp_set["split"]) == ("test", "test_comp")
    n_test = test_set["n_gallery"]
    plain = {r["query"]: r for r in test_set["rows"] if r["search"] == "index" and r["scoring"] == "plain"}
    assert list(plain) == ["general", "fine", "reference", "asr"]
    assert plain["fine"]["source"] == STAND_IN_SOURCE and plain["reference"]["source"] == "manifest"
    for r in plain.values():
        assert r["n"] == n_test and 0 <= r["R@1"] <= r["R@5"] <= r["R@10"] <= 100
        assert 1 <= r["MdR"] <= n_test and 1 <= r["MnR"] <= n_test
        curve = test_set["curves"][r["query"]]
        assert len(curve) == 10 and curve[0] == pytest.approx(r["R@1"]) and curve[9] == pytest.approx(r["R@10"])
        assert all(a <= b for a, b in itertools.pairwise(curve))
    assert {r["scoring"] for r in test_set["rows"]} == {"plain", "dsl"}
    assert test_set["exact_differs"] == dict.fromkeys(plain, False), "a Flat index must rank exactly"

    # An independent computation of the reference row: the retriever's own evaluation on the test clips.
    net = load_checkpoint(search_ws.models_dir / "retriever-tiny")
    own = evaluate_retrieval(net, catalog_items(search_ws, ["test"]), query_kinds=["reference"])["reference"]
    for key in ("R@1", "R@5", "R@10", "MdR", "MnR"):
        assert plain["reference"][key] == pytest.approx(own[key]), key
    labels = {(r["label"], r["value"]) for r in test_set["labels"]}
    assert any(label == "industry" for label, _ in labels)


def test_missing_captions_and_index_name_the_commands(
    search_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from indexer.catalog import open_catalog

    ws = _copy(search_ws, tmp_path / "ws")
    with open_catalog(ws.catalog_path) as cat:
        cat.con.execute("DELETE FROM texts WHERE kind = 'fine'")
    assert main(["--workspace", str(ws.root), "--kmax", "10", "--no-progress", "--comp-split", ""]) == 0
    printed = capsys.readouterr().out
    assert "`adsearch caption --kind fine --split test`" in printed
    result = json.loads((ws.bench_dir / "recall.json").read_text())
    assert [s["split"] for s in result["sets"]] == ["test"]
    assert "fine" not in {r["query"] for r in result["sets"][0]["rows"]}

    shutil.rmtree(ws.indexes_dir)
    assert main(["--workspace", str(ws.root), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "adsearch index build" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_current_captioners_texts_are_scored_when_an_older_captioner_covers_more_clips(
    search_ws: Workspace, tmp_path: Path
) -> None:
    from benchmarks._recall_data import load_gallery
    from indexer.catalog import open_catalog

    ws = _copy(search_ws, tmp_path / "ws")
    with open_catalog(ws.catalog_path) as cat:
        (clip_id,) = cat.query(
            "SELECT t.clip_id FROM texts t JOIN clips USING (clip_id) JOIN videos v USING (video_id) "
            "WHERE t.kind = 'fine' AND t.source = ? AND v.split = 'test' LIMIT 1",
            [STAND_IN_SOURCE],
        )
        cat.con.execute(
            "INSERT INTO texts (clip_id, kind, text, source) "
            "VALUES (?, 'fine', 'a retrained description', 'tiny-fine-new')",
            [clip_id["clip_id"]],
        )
    assert load_gallery(ws, "test").sources["fine"] == STAND_IN_SOURCE  # no current captioner: most clips win
    model_dir = ws.models_dir / "captioner-fine"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps({"model_id": "tiny-fine-new"}))
    gallery = load_gallery(ws, "test")
    assert gallery.sources["fine"] == "tiny-fine-new"
    assert gallery.queries["fine"][0] == ["a retrained description"]


def test_help_documents_every_option() -> None:
    text = build_parser().format_help()
    for option in (
        "--workspace",
        "--split",
        "--comp-split",
        "--exact",
        "--model",
        "--kmax",
        "--out",
        "--dsl-temperature",
        "--batch-size",
        "--no-progress",
        "--reuse",
    ):
        assert option in text


def test_reuse_prints_the_saved_table_until_an_input_changes(
    search_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `adsearch demo` runs: the second run with nothing changed reads recall.md instead of computing."""
    ws = _copy(search_ws, tmp_path / "ws")
    args = ["--workspace", str(ws.root), "--kmax", "10", "--no-progress", "--reuse"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "nothing changed" not in first and "wrote " in first
    saved = json.loads((ws.bench_dir / "recall.json").read_text())
    assert saved["inputs"]["model_id"] == saved["model_id"] and saved["inputs"]["options"]["kmax"] == 10
    mtime = (ws.bench_dir / "recall.json").stat().st_mtime_ns
    assert main(args) == 0
    second = capsys.readouterr().out
    assert second.startswith(f"nothing changed since {ws.bench_dir / 'recall.md'} was computed; its table:")
    assert (ws.bench_dir / "recall.md").read_text().strip() in second
    assert (ws.bench_dir / "recall.json").stat().st_mtime_ns == mtime
    assert main([*args[:-1]]) == 0 and "nothing changed" not in capsys.readouterr().out, "without --reuse it runs"
    assert main([*args, "--kmax", "12"]) == 0 and "nothing changed" not in capsys.readouterr().out, "an option"
    (ws.models_dir / "captioner-general").mkdir(parents=True, exist_ok=True)
    (ws.models_dir / "captioner-general" / "config.json").write_text(json.dumps({"model_id": "tiny-general-new"}))
    assert main([*args, "--kmax", "12"]) == 0 and "nothing changed" not in capsys.readouterr().out, "a captioner"
    assert main([*args, "--kmax", "12"]) == 0 and "nothing changed since" in capsys.readouterr().out


def test_index_similarity_fills_the_gallery_matrix_from_a_faiss_index() -> None:
    from indexer.faiss_index import build_index

    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.6, 0.8, 0]], dtype=np.float32)
    ids = np.array([11, 12, 13, 14], dtype=np.int64)
    index = build_index(ids, vectors, factory="Flat")
    queries = np.array([[1, 0, 0], [0, 0.6, 0.8]], dtype=np.float32)
    gallery = np.array([14, 12, 11], dtype=np.int64)  # a subset, out of id order: 13 is filtered out
    expected = queries.astype(np.float64) @ vectors[[3, 1, 0]].T.astype(np.float64)
    np.testing.assert_allclose(index_similarity(index, queries, gallery), expected, atol=1e-6)
    sim = index_similarity(index, queries, np.array([12, 99], dtype=np.int64))  # 99 is not in the index
    assert sim[0, 1] == MISSING_SCORE and sim[1, 0] == pytest.approx(0.6)


@pytest.mark.parametrize("samples", [16, 0])
def test_a_note_says_when_the_fine_captioner_reranked_with_this_retriever(
    search_ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], samples: int
) -> None:
    from retrieval import load_checkpoint

    ws = _copy(search_ws, tmp_path / "ws")
    retriever_id = load_checkpoint(ws.models_dir / "retriever-tiny").model_id
    model_dir = ws.models_dir / "captioner-fine"
    model_dir.mkdir(parents=True, exist_ok=True)
    meta = {"model_id": STAND_IN_SOURCE, "config": {"rerank_samples": samples}, "video_embedder": retriever_id}
    (model_dir / "config.json").write_text(json.dumps(meta))
    assert main(["--workspace", str(ws.root), "--out", str(tmp_path / "bench"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "bench" / "recall.json").read_text())
    assert result["fine_reranked_here"] is bool(samples)
    assert ("so these rows favour it" in printed) is bool(samples)

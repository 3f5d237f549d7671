"""`adsearch ingest` reads on-screen text (unless --no-ocr), `adsearch ocr` resumes, and `python -m benchmarks.ocr`
scores it, on a tiny synthetic catalog whose 8 clips all show text."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from adsearch.cli import main
from adsearch.workspace import Workspace
from benchmarks import ocr as ocr_bench
from indexer.catalog import open_catalog

N_CLIPS, SEED = 8, 36  # 12 overlay strings (brands, badges, prices, HUD scores), every clip shows some text


def _run(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ocr-ws")
    _run("--workspace", str(ws), "synth", "--clips", str(N_CLIPS), "--seed", str(SEED), "--workers", "1")
    manifest = Workspace(ws).synth_dir(N_CLIPS, SEED) / "manifest.jsonl"
    _run("--workspace", str(ws), "ingest", str(manifest), "--workers", "1", "--no-asr")
    return ws


def _ocr_rows(ws: Path) -> list[dict]:
    with open_catalog(ws / "catalog.duckdb", read_only=True) as cat:
        return cat.query("SELECT clip_id, text, source, meta FROM texts WHERE kind = 'ocr' ORDER BY clip_id")


def test_ingest_reads_the_on_screen_text_of_every_clip(workspace: Path) -> None:
    rows = _ocr_rows(workspace)
    assert len(rows) == N_CLIPS and {r["source"] for r in rows} == {"rapidocr:1.4.4"}
    truth = ocr_bench.load_truth(Workspace(workspace))
    assert sorted(truth) == [r["clip_id"] for r in rows]
    scores = [ocr_bench.score_clip(truth[r["clip_id"]], r["text"].split("\n")) for r in rows]
    summary = ocr_bench.summarize(scores)
    assert summary["overlay_strings"] == 12 and summary["found"] >= 11, [s.missed for s in scores]
    assert summary["precision"] >= 0.9, [s.wrong for s in scores]
    for r in rows:  # the text is the meta's lines, one per line
        meta = json.loads(r["meta"])
        assert r["text"] == "\n".join(ln["text"] for ln in meta["lines"])
        assert all(len(ln["box"]) == 4 and ln["t_s"] >= 0 and ln["frames"] >= 2 for ln in meta["lines"])


def test_a_second_run_reads_nothing_and_overwrite_reads_again(workspace: Path) -> None:
    before = _ocr_rows(workspace)
    assert f"ocr: 0 done, {N_CLIPS} skipped" in _run("--workspace", str(workspace), "ocr")
    assert f"ocr: {N_CLIPS} done, 0 skipped" in _run("--workspace", str(workspace), "ocr", "--overwrite")
    after = _ocr_rows(workspace)
    assert [(r["clip_id"], r["text"]) for r in after] == [(r["clip_id"], r["text"]) for r in before]


def test_ingest_no_ocr_and_ocr_without_a_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run("--workspace", str(tmp_path), "synth", "--clips", "3", "--seed", "1", "--workers", "1")
    manifest = Workspace(tmp_path).synth_dir(3, 1) / "manifest.jsonl"
    assert "ocr:" not in _run("--workspace", str(tmp_path), "ingest", str(manifest), "--no-asr", "--no-ocr")
    assert _ocr_rows(tmp_path) == []
    assert main(["--workspace", str(tmp_path / "none"), "ocr"]) == 2
    assert "run `adsearch ingest` first" in capsys.readouterr().err


def test_the_benchmark_writes_its_report(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ocr_bench.main(["--workspace", str(workspace), "--limit", "4", "--threads", "1"]) == 0
    result = json.loads((workspace / "bench" / "ocr.json").read_text())
    assert result["clips"] == 4 and result["failed"] == 0 and result["recall"] is not None
    assert result["clips_per_s"] > 0 and result["source"] == "rapidocr:1.4.4"
    assert "| clips | recall | precision |" in (workspace / "bench" / "ocr.md").read_text()

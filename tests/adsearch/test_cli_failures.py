"""Failures are loud where they should be: a bad clip is recorded and the run goes on (exit 0); a model that fails
every batch, or a run where every clip fails, exits 1 with the error; -vv adds the traceback to any error line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import retrieval
from adsearch.cli import main
from adsearch.workspace import Workspace
from indexer.catalog import open_catalog
from tests.indexer.index_helpers import tiny_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The tiny workspace (6 videos x 2 clips, 4 test videos, tiny retriever); tests that change it put it back."""
    return tiny_workspace(tmp_path_factory.mktemp("ws"))


@pytest.fixture
def broken_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real retriever, loaded with float64 weights: every forward pass raises (the frames are float32), as a
    model with weights of the wrong dtype or on the wrong device does. Put back to float32 afterwards (the CLI may
    keep a loaded retriever for the rest of the process)."""
    loaded = []
    load = retrieval.load_checkpoint

    def load_float64(*args, **kwargs):
        loaded.append(load(*args, **kwargs).to(torch.float64))
        return loaded[-1]

    monkeypatch.setattr(retrieval, "load_checkpoint", load_float64)
    try:
        yield
    finally:
        for net in loaded:
            net.to(torch.float32)


def _embed_runs(ws: Workspace) -> list[dict]:
    with open_catalog(ws.catalog_path) as cat:
        rows = cat.query("SELECT summary FROM runs WHERE command = 'embed' ORDER BY started_at")
    return [json.loads(r["summary"]) for r in rows]


def test_a_model_that_fails_every_batch_exits_1_with_the_error(
    ws: Workspace, broken_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ["--workspace", str(ws.root), "embed", "--split", "test", "--batch-size", "4"]
    assert main(run) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("adsearch embed: error: embed ") and "the model failed on every batch of the run" in last
    assert "Input type" in last and "Traceback" not in err  # the model's own error, in one line
    assert main([*run, "-vv"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "indexer.runner.ModelError" in err
    assert "The above exception was the direct cause" in err  # the model's traceback too
    assert err.strip().splitlines()[-1].startswith("adsearch embed: error: ")
    assert _embed_runs(ws) == []  # no clip recorded as failed: the next test's run tries all 8 again


def test_one_undecodable_clip_is_recorded_and_the_run_exits_0(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_catalog(ws.catalog_path) as cat:
        videos = cat.query("SELECT video_id, path FROM videos WHERE split = 'test' ORDER BY video_id")
    bad = Path(videos[0]["path"])
    original = bad.read_bytes()
    bad.write_bytes(original[:300])  # cut inside the header: cannot be decoded
    run = ["--workspace", str(ws.root), "embed", "--split", "test", "--batch-size", "4"]
    try:
        assert main(run) == 0
        out, err = capsys.readouterr()
        assert "6 done, 0 skipped (done before), 2 failed" in out  # its two clips failed, the other six went on
        assert err.count("failed: clip ") == 2
        runs = _embed_runs(ws)
        assert runs[-1]["done"] == 6 and runs[-1]["failed"] == 2 and len(runs[-1]["failures"]) == 2
        # run again: only the bad clips are left, and they fail again; the run is not a failure (nothing lost)
        assert main(run) == 0
        assert "0 done, 6 skipped (done before), 2 failed" in capsys.readouterr().out
    finally:
        bad.write_bytes(original)


def test_a_run_where_every_clip_fails_exits_1(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    with open_catalog(ws.catalog_path) as cat:
        videos = cat.query("SELECT path FROM videos WHERE split = 'train' ORDER BY video_id")
    originals = {Path(v["path"]): Path(v["path"]).read_bytes() for v in videos}
    try:
        for path in originals:
            path.write_bytes(b"not a video")
        assert main(["--workspace", str(ws.root), "embed", "--split", "train", "--batch-size", "4"]) == 1
        err = capsys.readouterr().err
        n = 2 * len(originals)
        assert err.strip().splitlines()[-1] == f"adsearch embed: error: all {n} clips failed (see above)"
    finally:
        for path, data in originals.items():
            path.write_bytes(data)


def test_vv_prints_the_traceback_of_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.csv"
    assert main(["--workspace", str(tmp_path), "ingest", str(missing)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["--workspace", str(tmp_path), "ingest", str(missing), "-vv"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "FileNotFoundError" in err
    assert err.strip().splitlines()[-1].startswith("adsearch ingest: error: nothing to ingest at")

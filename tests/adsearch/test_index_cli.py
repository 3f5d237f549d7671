"""CLI smoke test: embed -> index build -> search -> index status / remove / prune on a tiny real workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from adsearch.cli import main
from tests.indexer.index_helpers import tiny_workspace


def test_embed_index_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tiny_workspace(tmp_path / "ws")
    run = ["--workspace", str(ws.root)]

    assert main([*run, "search", "a red shot"]) == 2  # nothing embedded yet: one line naming the command to run
    err = capsys.readouterr().err
    assert "run `adsearch embed` first" in err and "Traceback" not in err

    assert main([*run, "embed", "--split", "test", "--batch-size", "4"]) == 0
    assert "8 done, 0 skipped" in capsys.readouterr().out  # 4 test videos x 2 clips
    assert main([*run, "embed", "--batch-size", "4"]) == 0
    assert "4 done, 8 skipped" in capsys.readouterr().out

    assert main([*run, "search", "a red shot"]) == 2
    assert "run `adsearch index build` first" in capsys.readouterr().err
    assert main([*run, "index", "build"]) == 0
    assert "index build: built 12 vectors, IDMap2,Flat, recall@10 1.000" in capsys.readouterr().out

    assert main([*run, "search", "clip a of video 1", "--k", "3", "--industry", "games", "--split", "test"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["#", "score", "clip"] and len(lines) == 4  # header + 3 hits
    assert all("games" in line and "[test]" in line for line in lines[1:])
    assert main([*run, "search", "anything", "--product", "no-such-product"]) == 0
    assert "no hits" in capsys.readouterr().out
    assert main([*run, "search", "   "]) == 2
    assert "the query is empty" in capsys.readouterr().err

    assert main([*run, "index", "status"]) == 0
    out = capsys.readouterr().out
    assert "12 searchable in the catalog, 12 embedded, 0 not embedded, 0 not in the published index" in out
    assert main([*run, "index", "remove", "--catalog", "main"]) == 0
    assert "retired (6 videos)" in capsys.readouterr().out
    assert main([*run, "search", "clip a of video 1"]) == 0
    assert "no hits" in capsys.readouterr().out
    assert main([*run, "index", "prune"]) == 0
    assert "deleted 0" in capsys.readouterr().out

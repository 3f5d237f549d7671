"""`adsearch demo` on a tiny catalog: every step runs, and a second run reuses what the first one built."""

from __future__ import annotations

from pathlib import Path

import pytest

from adsearch.cli import main


@pytest.mark.slow
def test_demo_runs_then_reuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--workspace", str(tmp_path), "demo", "--clips", "24", "--workers", "1"]
    assert main(args) == 0
    first = capsys.readouterr().out
    for step in ("== synth", "== ingest", "== train-retriever", "== step times"):
        assert step in first, first
    assert "| test | reference |" in first and "| test | general |" in first
    ckpt = tmp_path / "models" / "retriever-tiny" / "model.safetensors"
    mtime = ckpt.stat().st_mtime_ns

    assert main(args) == 0
    second = capsys.readouterr().out
    assert " 0 ok, 0 failed, " in second, "the second ingest must add nothing"
    assert "(0 rendered now)" in second and "(0 rendered now)" not in first
    assert ckpt.stat().st_mtime_ns == mtime, "the finished training run must be reused, not retrained"

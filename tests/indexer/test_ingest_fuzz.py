"""Fuzz pass over ingest (issue 15): a folder of good, broken and odd entries ingests without a traceback, every
good video is ok, every bad entry is a failed row with an error in words, and ``adsearch ingest`` exits 0."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.fuzz import DECODER_JARGON, fuzz_ingest, mutate_bytes, write_seed_videos


def test_a_fuzzed_folder_ingests_with_every_entry_accounted_for(tmp_path: Path) -> None:
    seeds = write_seed_videos(tmp_path / "seeds", small=True)
    findings = fuzz_ingest(seeds, random.Random(15), tmp_path / "run", n_broken=10)
    report = "\n".join(f"{f.kind}: {f.detail[:500]}" for f in findings)
    assert not findings, report


def test_cli_ingest_of_a_batch_with_bad_items_exits_0(tmp_path: Path) -> None:
    seeds = write_seed_videos(tmp_path / "seeds", small=True)
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(seeds[0], folder / "good.mp4")
    rng = random.Random(7)
    for i in range(4):
        (folder / f"bad{i}.mp4").write_bytes(mutate_bytes(seeds[i % len(seeds)].read_bytes(), rng)[0])
    (folder / "empty.mov").write_bytes(b"")
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(
        b'{"uri": "batch/good.mp4", "asr": "caf\\u00e9"}\n{"uri": "batch/x\xff.mp4"}\n[[[[\n{"uri": "batch/bad0.mp4"}\n'
    )
    ws = tmp_path / "ws"
    summaries = []
    for source in (folder, manifest):
        cmd = [sys.executable, "-m", "adsearch.cli", "--workspace", str(ws), "ingest", str(source), "--no-asr"]
        run = subprocess.run([*cmd, "--workers", "1"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "Traceback" not in run.stderr, run.stderr[-2000:]
        assert not [j for j in DECODER_JARGON if j in run.stderr], run.stderr[-2000:]
        summaries.append(re.search(r"(\d+) ok, (\d+) failed, (\d+) skipped", run.stdout).groups())
    # the folder: good.mp4 ok, empty.mov and the broken copies failed (a mutation may leave one readable)
    ok, failed, skipped = map(int, summaries[0])
    assert ok >= 1 and failed >= 1 and ok + failed + skipped == 6
    # the manifest: the good row is the same content as the folder's (skipped), 3 rows failed (bad byte in the
    # uri, not JSON, a broken file)
    assert tuple(map(int, summaries[1])) in {(0, 3, 1), (1, 2, 1)}, summaries[1]

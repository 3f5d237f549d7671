"""``adsearch transcribe``: ASR as a stage. On a small catalog (real h264 + AAC videos carrying recorded English
speech, the packaged Whisper tiny.en, real DuckDB) ingested with --no-asr, the stage writes the texts that
ingest's inline ASR writes, on the local runner and on Ray; a second run does nothing; a bad video fails alone; a
model that cannot load stops the run with exit status 1."""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from adsearch.cli import main
from adsearch.workspace import Workspace
from corpus.manifest import ClipRecord, VideoRecord, write_manifest
from indexer.catalog import open_catalog
from indexer.ingest import IngestOptions, ingest
from media import write_video

REPO = Path(__file__).resolve().parents[2]


SPEECH = REPO / "tests" / "media" / "data" / "speech_en.wav"  # 4.9 s of English speech, 16 kHz mono


def _video(path: Path, shade: int, seconds: float, audio: np.ndarray | None) -> None:
    frames = [np.full((112, 64, 3), (shade + 3 * i) % 256, np.uint8) for i in range(int(seconds * 10))]
    write_video(path, frames, 10, audio=audio)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small ads with clips given by the manifest and no transcript, so that ingest runs Whisper: speech in
    both clips, speech in the second clip only, a silent audio track, no audio stream."""
    with wave.open(str(SPEECH)) as w:
        speech = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    gap = np.zeros(16000, np.float32)
    out = tmp_path_factory.mktemp("talking")
    videos = {
        "both.mp4": (40, np.concatenate([speech, gap, speech, gap])),
        "second.mp4": (90, np.concatenate([gap, gap, gap, gap, gap, gap, speech])),
        "silent.mp4": (140, np.zeros(16000 * 6, np.float32)),
        "mute.mp4": (190, None),
    }
    records = []
    for name, (shade, audio) in videos.items():
        seconds = 6.0 if audio is None else len(audio) / 16000
        _video(out / "ads" / name, shade, seconds, audio)
        half = round(seconds / 2, 1)
        clips = (ClipRecord(0.0, half), ClipRecord(half, round(seconds - 0.1, 1)))
        records.append(VideoRecord(uri=name, clips=clips))
    return write_manifest(records, out / "ads" / "manifest.jsonl")


def _ingest(root: Path, manifest: Path, *, asr: bool) -> Workspace:
    ws = Workspace(root)
    opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=asr)
    with open_catalog(ws.catalog_path) as cat:
        s = ingest(manifest, cat, opts=opts, catalog_id="ads")
    assert s.failed == 0 and s.ok == 4
    return ws


@pytest.fixture(scope="module")
def inline(tmp_path_factory: pytest.TempPathFactory, manifest: Path) -> list[tuple]:
    """The asr texts of ingest's inline ASR: what the stage must write."""
    ws = _ingest(tmp_path_factory.mktemp("inline") / "ws", manifest, asr=True)
    texts = _asr_texts(ws)
    assert len(texts) == 3 and all("shoes" in t[1].lower() for t in texts), texts  # both clips, second clip
    assert {t[2] for t in texts} == {"whisper:tiny.en"}
    return texts


@pytest.fixture(scope="module")
def no_asr(tmp_path_factory: pytest.TempPathFactory, manifest: Path) -> Workspace:
    """The same catalog ingested with --no-asr (copied by each test)."""
    ws = _ingest(tmp_path_factory.mktemp("no-asr") / "ws", manifest, asr=False)
    assert _asr_texts(ws) == []
    return ws


def _asr_texts(ws: Workspace) -> list[tuple]:
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query("SELECT clip_id, text, source FROM texts WHERE kind = 'asr' ORDER BY clip_id")
    return [(r["clip_id"], r["text"], r["source"]) for r in rows]


def _copy(ws: Workspace, dest: Path) -> Workspace:
    return Workspace(shutil.copytree(ws.root, dest))


def _runs(ws: Workspace) -> list[dict]:
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query("SELECT summary FROM runs WHERE command = 'transcribe' ORDER BY started_at")
    return [json.loads(r["summary"]) for r in rows]


def test_transcribe_writes_ingests_texts_and_a_second_run_does_nothing(no_asr, inline, tmp_path, capsys) -> None:
    ws = _copy(no_asr, tmp_path / "ws")
    assert main(["--workspace", str(ws.root), "transcribe"]) == 0
    out = capsys.readouterr().out
    assert " 0 failed" in out, out
    assert _asr_texts(ws) == inline  # same clips, same words, same source as inline ASR
    assert main(["--workspace", str(ws.root), "transcribe"]) == 0
    assert " 0 done" in capsys.readouterr().out  # nothing left: not loaded, not run, not recorded
    assert len(_runs(ws)) == 1
    with open_catalog(ws.catalog_path, read_only=True) as cat:  # every video with audio is marked transcribed
        assert (
            cat.query("SELECT count(*) AS n FROM transcribed")[0]["n"]
            == cat.query("SELECT count(*) AS n FROM videos WHERE status = 'ok' AND has_audio")[0]["n"]
        )


def test_a_bad_video_fails_alone_and_a_broken_model_stops_the_run(no_asr, inline, tmp_path, capsys) -> None:
    ws = _copy(no_asr, tmp_path / "ws")
    with open_catalog(ws.catalog_path) as cat:  # the file of the video with speech in both clips is now garbage
        (video,) = cat.query("SELECT video_id, path FROM videos WHERE path LIKE '%both.mp4'")
        bad_clips = {
            r["clip_id"] for r in cat.query("SELECT clip_id FROM clips WHERE video_id = ?", [video["video_id"]])
        }
        bad = tmp_path / "broken.mp4"
        bad.write_bytes(os.urandom(4096))
        cat.con.execute("UPDATE videos SET path = ? WHERE video_id = ?", [str(bad), video["video_id"]])
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    assert main(["--workspace", str(ws.root), "transcribe", "--asr-model", str(empty), "--batch-size", "1"]) == 1
    assert "the model failed on every batch" in capsys.readouterr().err
    assert _asr_texts(ws) == []  # nothing written; the next run tries every video again
    assert _runs(ws)[-1]["stopped"]

    assert main(["--workspace", str(ws.root), "transcribe", "--batch-size", "1"]) == 0
    captured = capsys.readouterr()
    assert " 2 done" in captured.out and " 1 failed" in captured.out, captured.out
    assert f"failed: video of clip {min(bad_clips)}: " in captured.err
    assert _asr_texts(ws) == [t for t in inline if t[0] not in bad_clips]  # the others transcribed as inline
    assert _runs(ws)[-1]["failed"] == 1 and not _runs(ws)[-1]["stopped"]
    with open_catalog(ws.catalog_path) as cat:  # the file is fixed: the next run transcribes it alone
        cat.con.execute("UPDATE videos SET path = ? WHERE video_id = ?", [video["path"], video["video_id"]])
    assert main(["--workspace", str(ws.root), "transcribe"]) == 0
    assert " 1 done" in capsys.readouterr().out
    assert _asr_texts(ws) == inline


def test_transcribe_on_ray_writes_the_same_texts(no_asr, inline, tmp_path, capsys) -> None:
    ray = pytest.importorskip("ray", reason="the Ray engine needs ray[data] (pip install -e '.[dev]')")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    try:
        ws = _copy(no_asr, tmp_path / "ws")
        assert main(["--workspace", str(ws.root), "transcribe", "--engine", "ray", "--batch-size", "1"]) == 0
        assert " 0 failed" in capsys.readouterr().out
        assert _asr_texts(ws) == inline
        assert [r["engine"] for r in _runs(ws)] == ["ray"]
        assert main(["--workspace", str(ws.root), "transcribe", "--engine", "ray"]) == 0
        assert " 0 done" in capsys.readouterr().out
    finally:
        ray.shutdown()


def test_ingests_inline_asr_marks_its_videos_transcribed(manifest, inline, tmp_path, capsys) -> None:
    ws = _ingest(tmp_path / "ws", manifest, asr=True)
    with open_catalog(ws.catalog_path, read_only=True) as cat:  # the silent video too: Whisper ran, found nothing
        rows = cat.query(
            "SELECT v.uri, t.source, t.clips FROM transcribed t JOIN videos v USING (video_id) ORDER BY v.uri"
        )
    assert [(r["uri"], r["source"], r["clips"]) for r in rows] == [
        ("both.mp4", "whisper:tiny.en", 2),
        ("second.mp4", "whisper:tiny.en", 1),
        ("silent.mp4", "whisper:tiny.en", 0),
    ]
    assert main(["--workspace", str(ws.root), "transcribe"]) == 0
    assert " 0 done" in capsys.readouterr().out  # nothing left for the stage
    assert _asr_texts(ws) == inline

"""Fixtures for the indexer tests: small real videos, a manifest with good and bad rows, and a workspace."""

from __future__ import annotations

import shutil
import wave
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pytest

from corpus.manifest import ClipRecord, VideoRecord, write_manifest
from media import write_video

from .text_helpers import text_encoder, text_ws  # noqa: F401  (session fixtures of the text-channel tests)

FPS = 10
SIZE = (112, 64)  # (H, W): vertical, small


def make_video(path: Path, colours: list[tuple[int, int, int]], shot_frames: int = 15, seed: int = 0) -> Path:
    """A video of flat-colour shots, one per colour, with a moving square so frames differ within a shot."""
    rng = np.random.default_rng(seed)
    frames = []
    for c in colours:
        for t in range(shot_frames):
            f = np.empty((*SIZE, 3), np.uint8)
            f[:] = c
            y = 10 + (t * 3) % (SIZE[0] - 30)
            f[y : y + 16, 8:24] = 255 - np.array(c, np.uint8)
            f[-6:, :] = rng.integers(0, 255, (6, SIZE[1], 3), dtype=np.uint8)  # content that makes each video unique
            frames.append(f)
    return write_video(path, frames, FPS)


def write_wav(path: Path, seconds: float = 1.0, sr: int = 16000) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path


@dataclass
class BadCatalog:
    """A manifest whose rows cover every kind of input ingest must survive."""

    manifest: Path
    n_good: int  # readable, distinct videos
    n_failed: int  # rows that must end as status='failed'
    n_duplicate: int  # rows whose file has the same bytes as a good one


@pytest.fixture(scope="session")
def good_videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("good")
    palette = [(200, 30, 30), (30, 160, 40), (30, 40, 200), (220, 200, 40), (160, 40, 180)]
    return [make_video(d / f"v{i}.mp4", [palette[i % 5], palette[(i + 2) % 5]], seed=i) for i in range(4)]


@pytest.fixture
def bad_catalog(tmp_path: Path, good_videos: list[Path]) -> BadCatalog:
    vdir = tmp_path / "ads" / "videos"
    vdir.mkdir(parents=True)
    for p in good_videos:
        shutil.copy(p, vdir / p.name)
    shutil.copy(good_videos[0], vdir / "copy_of_v0.mp4")
    (vdir / "empty.mp4").write_bytes(b"")
    data = good_videos[1].read_bytes()
    (vdir / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (vdir / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    write_wav(vdir / "speech.wav")
    clips = (ClipRecord(0.0, 1.5, reference="a red scene", general="a scene", keywords=("red",)), ClipRecord(1.5, 3.0))
    records = [
        VideoRecord(uri="videos/v0.mp4", clips=clips, asr="buy now", industry="games", game="rpg", split="train"),
        VideoRecord(uri="videos/v1.mp4", clips=clips, industry="e-commerce", product="bottle", split="test"),
        VideoRecord(uri="videos/v2.mp4", split="train"),  # no clips: shots are detected
        VideoRecord(uri="videos/v3.mp4", clips=(ClipRecord(0.0, 1.5), ClipRecord(1.5, 9.0))),  # past the end
        VideoRecord(uri="videos/copy_of_v0.mp4", split="val"),
        VideoRecord(uri="videos/empty.mp4"),
        VideoRecord(uri="videos/truncated.mp4"),
        VideoRecord(uri="videos/random.mp4"),
        VideoRecord(uri="videos/speech.wav"),
        VideoRecord(uri="videos/missing.mp4"),
        VideoRecord(uri="https://example.org/remote.mp4"),
    ]
    manifest = write_manifest(records, tmp_path / "ads" / "manifest.jsonl")
    with manifest.open("a") as f:  # a malformed row: ingest records it as failed too
        f.write('{"uri": "videos/v1.mp4", "split": "holdout"}\n')
    # failed: v3 (clip past end), empty, truncated, random, speech.wav, missing, remote, malformed row
    return BadCatalog(manifest=manifest, n_good=3, n_failed=8, n_duplicate=1)


@pytest.fixture(scope="module")
def one_faiss_thread():
    """FAISS on one OpenMP thread for a test module: on 2 shared cores, threads spinning while waiting for a
    descheduled partner cost more than they give on small indexes."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)

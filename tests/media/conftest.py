"""Fixtures for the media tests: small real videos written with PyAV whose content is known frame by frame."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from media import write_video
from tests.media.media_helpers import FPS, banded_frame, index_frames, remux_faststart, tone, write_shots

# --- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def index_video(media_dir: Path) -> Path:
    """5 s, 10 fps, 144x256 (vertical), 50 flat frames whose colour encodes the frame index; no audio."""
    return write_video(media_dir / "index.mp4", index_frames(50), FPS, crf=10)


@pytest.fixture(scope="session")
def tone_video(media_dir: Path) -> Path:
    """3 s, 10 fps, 144x256, with a 440 Hz mono AAC tone at 16 kHz."""
    return write_video(media_dir / "tone.mp4", index_frames(30), FPS, audio=tone(440, 3.0), sample_rate=16000)


@pytest.fixture(scope="session")
def banded_video(media_dir: Path) -> Path:
    """1 s, 10 fps, vertical 144x256 frames with red / green / blue horizontal bands."""
    return write_video(media_dir / "banded.mp4", [banded_frame()] * 10, FPS, crf=10)


@pytest.fixture(scope="session")
def faststart_video(tone_video: Path, media_dir: Path) -> Path:
    """The tone video with its index at the front, so a truncated copy still opens but lacks frames."""
    return remux_faststart(tone_video, media_dir / "faststart.mp4")


@pytest.fixture
def make_shots(tmp_path: Path) -> Callable[..., tuple[Path, list[int]]]:
    """Factory: ``make_shots(shots, seed=0)`` -> (path, true cut frames)."""

    def make(shots: list[tuple[str, int]], *, seed: int = 0, name: str = "shots.mp4") -> tuple[Path, list[int]]:
        path = tmp_path / name
        return path, write_shots(path, shots, seed=seed)

    return make

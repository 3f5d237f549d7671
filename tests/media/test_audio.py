"""extract_audio: mono float32 at the asked rate, the right pitch, ranges, and typed errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media import NoAudioStreamError, extract_audio, write_video
from tests.media.media_helpers import index_frames, tone


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


def test_tone_frequency_recovered_at_16k(tone_video: Path) -> None:
    x = extract_audio(tone_video)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == pytest.approx(3 * 16000, abs=1024)  # AAC pads by at most a frame
    assert np.abs(x).max() <= 1.0
    assert abs(_peak_hz(x, 16000) - 440) < 3
    assert 0.3 < np.sqrt(np.mean(x[1000:-1000] ** 2)) < 0.4  # amplitude 0.5 sine: rms 0.354


def test_resampled_rate_and_range(tone_video: Path) -> None:
    x = extract_audio(tone_video, sample_rate=8000, start_s=1.0, end_s=2.0)
    assert len(x) == 8000
    assert abs(_peak_hz(x, 8000) - 440) < 3


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    import av

    path = tmp_path / "stereo.wav"
    left, right = tone(300, 1.0, sr=22050), tone(1200, 1.0, sr=22050)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=22050)
        stream.layout = "stereo"
        pcm = (np.stack([left, right], axis=1) * 32767).astype(np.int16).reshape(1, -1)  # (1, 2n) interleaved
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate = 22050
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    x = extract_audio(path)
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / 16000)
    for hz in (300, 1200):  # both channels are in the mix
        assert spectrum[np.abs(freqs - hz) < 5].max() > 0.2 * spectrum.max()


def test_video_without_audio(index_video: Path, tmp_path: Path) -> None:
    with pytest.raises(NoAudioStreamError, match="no audio stream"):
        extract_audio(index_video)
    silent = write_video(tmp_path / "silent.mp4", index_frames(10), 10, audio=np.zeros(16000, np.float32))
    x = extract_audio(silent)
    assert len(x) > 15000 and np.abs(x).max() < 1e-3


def test_bad_arguments(tone_video: Path) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        extract_audio(tone_video, sample_rate=0)
    with pytest.raises(ValueError, match="start_s"):
        extract_audio(tone_video, start_s=2.0, end_s=1.0)
    with pytest.raises(FileNotFoundError):
        extract_audio(tone_video.with_name("missing.mp4"))

"""probe(): the facts of good videos, and typed errors (quickly) for every kind of bad input."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from media import (
    EmptyFileError,
    MediaError,
    NotAVideoError,
    NoVideoStreamError,
    VideoInfo,
    probe,
    read_frame,
    sample_frames,
    write_video,
)
from tests.media.media_helpers import H, W, tone


def test_probe_fields_without_audio(index_video: Path) -> None:
    info = probe(index_video)
    assert info == VideoInfo(
        path=str(index_video), duration_s=5.0, fps=10.0, frame_count=50, width=W, height=H, has_audio=False
    )


def test_probe_fields_with_audio(tone_video: Path) -> None:
    info = probe(str(tone_video))
    assert (info.frame_count, info.fps, info.width, info.height, info.has_audio) == (30, 10.0, W, H, True)
    assert info.duration_s == pytest.approx(3.0)
    assert info.path == str(tone_video)


def test_probe_fractional_rate(tmp_path: Path) -> None:
    path = write_video(tmp_path / "ntsc.mp4", [np.zeros((32, 48, 3), np.uint8)] * 12, 29.97)
    info = probe(path)
    assert info.fps == pytest.approx(29.97, abs=1e-3)
    assert info.frame_count == 12
    assert info.duration_s == pytest.approx(12 / 29.97, abs=1e-3)


def test_media_error_message_and_pickling() -> None:
    err = NotAVideoError("/x/y.mp4", "truncated")
    assert str(err) == "/x/y.mp4: truncated"
    assert (err.path, err.reason) == ("/x/y.mp4", "truncated")
    back = pickle.loads(pickle.dumps(err))  # worker processes send these to the parent
    assert isinstance(back, NotAVideoError) and str(back) == str(err)


# --- bad inputs ----------------------------------------------------------------------------------------------------


def _truncate(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _bad_file(kind: str, tmp: Path, tone_video: Path, faststart_video: Path) -> Path:
    """Make one bad input of ``kind`` under ``tmp``."""
    if kind == "zero_bytes":
        p = tmp / "empty.mp4"
        p.touch()
        return p
    if kind.startswith("truncated_"):  # index at the end: a cut file loses it
        return _truncate(tone_video, tmp / f"{kind}.mp4", int(kind.split("_")[1]) / 100)
    if kind.startswith("faststart_"):  # index at the front: a cut file opens, but its frames are missing
        return _truncate(faststart_video, tmp / f"{kind}.mp4", int(kind.split("_")[1]) / 100)
    if kind == "random_bytes":
        p = tmp / "random.mp4"
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
        return p
    if kind == "text_as_mp4":
        p = tmp / "notes.mp4"
        p.write_text("not a video\n" * 200)
        return p
    if kind == "text_file":  # FFmpeg opens .txt as "tty" with an ANSI-art video stream
        p = tmp / "notes.txt"
        p.write_text("not a video\n" * 200)
        return p
    if kind == "directory":
        p = tmp / "folder.mp4"
        p.mkdir()
        return p
    if kind == "png_image":
        from PIL import Image

        p = tmp / "still.png"
        Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(p)
        return p
    raise AssertionError(kind)


BAD = {
    "zero_bytes": EmptyFileError,
    "truncated_10": NotAVideoError,
    "truncated_50": NotAVideoError,
    "faststart_10": NotAVideoError,
    "faststart_50": NotAVideoError,
    "faststart_90": NotAVideoError,
    "random_bytes": NotAVideoError,
    "text_as_mp4": NotAVideoError,
    "text_file": NotAVideoError,
    "directory": NotAVideoError,
    "png_image": NotAVideoError,
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_input_raises_typed_error_quickly(
    kind: str, tmp_path: Path, tone_video: Path, faststart_video: Path
) -> None:
    path = _bad_file(kind, tmp_path, tone_video, faststart_video)
    t0 = time.perf_counter()
    with pytest.raises(BAD[kind]) as info:
        probe(path)
    assert time.perf_counter() - t0 < 5.0
    err = info.value
    assert err.path == str(path) and err.reason and str(err).startswith(str(path))


@pytest.mark.parametrize("kind", ["zero_bytes", "truncated_50", "faststart_50", "random_bytes", "text_file"])
def test_bad_input_fails_the_frame_readers_too(
    kind: str, tmp_path: Path, tone_video: Path, faststart_video: Path
) -> None:
    path = _bad_file(kind, tmp_path, tone_video, faststart_video)
    with pytest.raises(MediaError):
        sample_frames(path, n=4)
    with pytest.raises(MediaError):
        read_frame(path, 0.0)


def test_truncated_error_chains_the_decoder_cause(tmp_path: Path, faststart_video: Path) -> None:
    path = _truncate(faststart_video, tmp_path / "cut.mp4", 0.5)
    with pytest.raises(NotAVideoError) as info:
        probe(path)
    assert info.value.__cause__ is not None  # the decord/PyAV exception is kept for debugging


def test_audio_only_files(tmp_path: Path) -> None:
    import av

    wav = tmp_path / "voice.wav"
    m4a = tmp_path / "voice.m4a"
    samples = tone(300, 1.0)
    for path, codec, fmt in ((wav, "pcm_s16le", "s16"), (m4a, "aac", "fltp")):
        with av.open(str(path), "w") as out:
            stream = out.add_stream(codec, rate=16000)
            stream.layout = "mono"
            block = (samples * 32767).astype(np.int16) if fmt == "s16" else samples
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format=fmt, layout="mono")
            frame.sample_rate = 16000
            out.mux(stream.encode(frame))
            out.mux(stream.encode())
        t0 = time.perf_counter()
        with pytest.raises(NoVideoStreamError, match="audio-only"):
            probe(path)
        assert time.perf_counter() - t0 < 5.0


def test_missing_path_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such media file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(FileNotFoundError):
        sample_frames(tmp_path / "nope.mp4")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path, index_video: Path) -> None:
    path = tmp_path / "locked.mp4"
    path.write_bytes(index_video.read_bytes())
    path.chmod(0)
    with pytest.raises(NotAVideoError, match="permission"):
        probe(path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.mp4"
    os.mkfifo(path)
    with pytest.raises(NotAVideoError, match="not a regular file"):
        probe(path)


# Fragments of decoder internals that mean nothing to a user (decord's C++ checks, FFmpeg calls and error codes).
DECODER_JARGON = ("Check failed", "avfilter", "buffersrc", "__null", "av_read_frame", "1094995529", "DECORD", ".cc:")


@pytest.mark.parametrize("percent", [10, 30, 50, 90])
def test_cut_faststart_mp4_says_what_to_do(tmp_path: Path, faststart_video: Path, percent: int) -> None:
    # issue 15 #12: a half-cut faststart mp4 failed with "Check failed: avfilter_graph_create_filter(...) Cannot
    # create buffer source"; every reader must say, in words, that the file is cut short or damaged.
    path = _truncate(faststart_video, tmp_path / f"cut{percent}.mp4", percent / 100)
    readers = {
        "probe": probe,
        "sample_frames": lambda p: sample_frames(p, n=4),
        "read_frame": lambda p: read_frame(p, 0),
    }
    for name, read in readers.items():
        with pytest.raises(NotAVideoError) as info:
            read(path)
        message = str(info.value)
        assert "truncated or corrupt" in message, (name, message)
        assert "re-download or re-encode" in message, (name, message)
        assert not [j for j in DECODER_JARGON if j in message], (name, message)
        assert info.value.__cause__ is not None  # the decoder's own words stay in the chain, for debugging


def test_unknown_video_codec_is_a_typed_error(tmp_path: Path, index_video: Path) -> None:
    # found by the fuzz pass (benchmarks.fuzz, a truncated h263 .3gp): a video stream whose codec FFmpeg does not
    # know has no codec context, and every reader failed with "AttributeError: 'NoneType' object has no attribute"
    path = tmp_path / "unknown_codec.mp4"
    path.write_bytes(index_video.read_bytes().replace(b"avc1", b"zzzz"))  # the track's codec tag
    readers = {
        "probe": probe,
        "sample_frames": lambda p: sample_frames(p, n=4),
        "read_frame": lambda p: read_frame(p, 0),
    }
    for name, read in readers.items():
        with pytest.raises(NotAVideoError, match="codec") as info:
            read(path)
        assert "re-download or re-encode" in str(info.value), name


# Found by `python -m benchmarks.fuzz --minutes 5` (seed 0, case "flv1.flv flipx32"): 32 flipped bits in a 7.8 KB flv
# gave its first frame a 16432x9017 picture header (148 megapixels). Every reader decoded it at that size: probe took
# 20 s, a thumbnail 44 s, sample_frames(size=None) returned 889 MB, and the fuzz run's 30 s limit called it a hang.
HUGE_FRAME_FLV = Path(__file__).parent / "data" / "flv1_huge_first_frame.flv"


def test_a_frame_size_no_video_has_is_refused_before_decoding(tmp_path: Path) -> None:
    from media import detect_shots, write_thumbnail

    readers = {
        "probe": probe,
        "sample_frames": lambda p: sample_frames(p, n=4, size=32),
        "sample_native": lambda p: sample_frames(p, n=2, size=None),
        "read_frame": lambda p: read_frame(p, 0.0),
        "thumbnail": lambda p: write_thumbnail(p, 0.0, 1.0, tmp_path / "thumb.jpg", width=32),
        "detect_shots": detect_shots,
    }
    for name, read in readers.items():
        with pytest.raises(NotAVideoError) as info:
            read(HUGE_FRAME_FLV)
        message = str(info.value)
        assert "16432x9017" in message and "corrupt" in message and "re-encode" in message, (name, message)
    assert not (tmp_path / "thumb.jpg").exists()


@pytest.mark.parametrize(("width", "readable"), [(8192, True), (8194, False)])
def test_frame_width_limit(tmp_path: Path, width: int, readable: bool) -> None:
    # the limit is a side of 8,192 pixels (8K) and 8192 x 4320 pixels in all: any real ad video reads
    path = write_video(tmp_path / f"w{width}.mp4", [np.full((16, width, 3), 90, np.uint8)] * 2, 10)
    if readable:
        assert (probe(path).width, sample_frames(path, n=1, size=None).shape) == (width, (1, 16, width, 3))
    else:
        with pytest.raises(NotAVideoError, match=f"{width}x16"):
            probe(path)

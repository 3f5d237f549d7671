"""Writing h264 mp4 files with PyAV (used by the synthetic catalog generator and test fixtures)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["X264_PARAMS", "write_video"]

# x264's macroblock tree (mbtree, on by default) is float code whose SIMD variants differ, and whose AVX-512 variant
# (in the x264 that PyAV bundles) reads memory left over in the process: identical frames gave different bytes and
# pixels from one encode to the next, in one process as across worker processes. Without it the output is the same
# on every run and on AVX2 and AVX-512 machines alike; files are ~10% bigger at the same crf.
X264_PARAMS = "mbtree=0"


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 23,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> Path:
    """Encode RGB frames to an h264 mp4 (yuv420p), optionally with a mono AAC audio track.

    The same frames give the same bytes on every call (x264 with ``X264_PARAMS``).

    Args:
        path: Output file; its parent directory is created. Written to a temporary name and renamed,
            so a killed writer never leaves a half-written file under ``path``.
        frames: Iterable of uint8 arrays (H, W, 3); H and W must be even (yuv420p).
        fps: Frame rate (integer or fraction such as 29.97).
        crf: x264 constant rate factor (lower = better quality, bigger file).
        audio: Optional float32 mono samples in [-1, 1].
        sample_rate: Sample rate of ``audio`` in Hz.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    rate = Fraction(fps).limit_denominator(1001)
    n_written = 0
    with av.open(str(tmp), mode="w", format="mp4") as container:
        vstream = container.add_stream("libx264", rate=rate)
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"crf": str(crf), "preset": "veryfast", "x264-params": X264_PARAMS}
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=sample_rate)
            astream.layout = "mono"
        for frame in frames:
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3, "frames must be (H, W, 3) uint8"
            if n_written == 0:
                h, w = frame.shape[:2]
                if h % 2 or w % 2:
                    raise ValueError(f"frame size {w}x{h} must be even for yuv420p h264")
                vstream.height, vstream.width = h, w
            container.mux(vstream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            n_written += 1
        if n_written == 0:
            raise ValueError(f"no frames given for {path}")
        container.mux(vstream.encode())
        if astream is not None:
            _mux_audio(container, astream, np.asarray(audio, dtype=np.float32), sample_rate)
    tmp.replace(path)
    return path


def _mux_audio(container: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray, sr: int) -> None:
    chunk = 1024  # AAC frame size
    for start in range(0, len(samples), chunk):
        block = samples[start : start + chunk].reshape(1, -1)  # (channels=1, n) planar float
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
        frame.sample_rate = sr
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())

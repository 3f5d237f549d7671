"""Audio extraction: a file's first audio stream decoded and resampled to float32 mono with PyAV."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np

from media._reader import FIX_HINT, av_detail, check_path
from media.errors import NoAudioStreamError, NotAVideoError

__all__ = ["extract_audio"]


def extract_audio(
    path: str | Path,
    *,
    sample_rate: int = 16000,
    start_s: float | None = None,
    end_s: float | None = None,
) -> np.ndarray:
    """Decode the first audio stream of a video or audio file to mono float32 samples.

    Args:
        path: Any file FFmpeg reads with an audio stream (mp4, mkv, wav, m4a, mp3, ...).
        sample_rate: Output sample rate in Hz (16000 is what Whisper expects).
        start_s: Keep samples from this time on (seconds, >= 0); None means the start.
        end_s: Keep samples before this time (seconds, > start_s); None means the end.

    Returns:
        float32 array (n_samples,) in [-1, 1]; channels are averaged to mono.

    Raises:
        ValueError: Bad ``sample_rate`` or time range.
        FileNotFoundError: Nothing exists at ``path``.
        EmptyFileError: The file has zero bytes.
        NoAudioStreamError: The file has no audio stream.
        NotAVideoError: The file is not readable media or its audio cannot be decoded.
    """
    if not (isinstance(sample_rate, int) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
    start = 0.0 if start_s is None else start_s
    if not (math.isfinite(start) and start >= 0) or (
        end_s is not None and not (math.isfinite(end_s) and end_s > start)
    ):
        raise ValueError(f"need 0 <= start_s < end_s, got start_s={start_s!r}, end_s={end_s!r}")
    p = check_path(path)
    blocks = []
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise NotAVideoError(p, f"not a readable media container ({av_detail(e)}); {FIX_HINT}") from e
    try:
        with container:
            if not container.streams.audio:
                raise NoAudioStreamError(p, "the file has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                blocks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]  # (1, k) packed -> (k,)
            blocks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]  # flush the resampler's tail
    except NoAudioStreamError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise NotAVideoError(
            p, f"the file is truncated or corrupt: its audio cannot be decoded ({av_detail(e)}); {FIX_HINT}"
        ) from e
    samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    first = round(start * sample_rate)
    last = None if end_s is None else round(end_s * sample_rate)
    return np.clip(samples[first:last], -1.0, 1.0).astype(np.float32, copy=False)

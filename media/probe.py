"""Reading a video's basic facts (duration, frame rate, size, audio) and refusing files that cannot be decoded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from media._reader import Reader, check_path, inspect_container
from media.errors import NotAVideoError

__all__ = ["VideoInfo", "probe"]


@dataclass(frozen=True)
class VideoInfo:
    """Facts about one video file, as the frame readers of this package see it."""

    path: str  # the file probed
    duration_s: float  # the span the frames cover, first frame's start to last frame's end, in seconds
    fps: float  # average frame rate, frame_count / duration_s, frames per second (variable-rate videos: see media)
    frame_count: int  # number of frames the decoder can index (0 .. frame_count - 1)
    width: int  # decoded frame width in pixels
    height: int  # decoded frame height in pixels
    has_audio: bool  # the container holds an audio stream


def probe(path: str | Path) -> VideoInfo:
    """Check that ``path`` is a decodable video and return its :class:`VideoInfo`.

    The container is first opened with PyAV (cheap, and safe on garbage); only a file with a real video stream is
    handed to decord, which then decodes its first and last frame so that a file truncated after its header is
    refused here rather than half-way through a later read.

    Args:
        path: A video file (any container and codec that decord reads: mp4, mov, mkv, webm, avi, ...).

    Returns:
        The video's facts; ``frame_count`` and ``fps`` are those that :func:`media.sample_frames` indexes with.

    Raises:
        FileNotFoundError: Nothing exists at ``path``.
        EmptyFileError: The file has zero bytes.
        NoVideoStreamError: An audio-only file (.wav, .m4a, .mp3, ...).
        NotAVideoError: Anything else unusable: not media, a still image or text, truncated or corrupt beyond
            decoding, or a container/codec decord cannot read.
    """
    p = check_path(path)
    facts = inspect_container(p)
    reader = Reader(p, facts)
    try:
        ends = reader.read([0, reader.frame_count - 1])  # (2, H, W, 3)
    except NotAVideoError as e:  # typically a file cut (or corrupted) after its header was written
        raise NotAVideoError(p, f"its first or last frame cannot be decoded: {e.reason}") from e
    height, width = ends.shape[1:3]
    return VideoInfo(
        path=str(path),
        duration_s=reader.duration_s,
        fps=reader.fps,
        frame_count=reader.frame_count,
        width=int(width),
        height=int(height),
        has_audio=facts.has_audio,
    )

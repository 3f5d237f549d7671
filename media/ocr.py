"""On-screen text (OCR) of a clip: sampled frames read by PP-OCRv4 (``rapidocr-onnxruntime``, CPU, no download).

The detection (DB) and recognition (SVTR, CTC) ONNX models ship inside the ``rapidocr-onnxruntime`` wheel; only
its two ONNX sessions are used here (no angle classifier: ad text is upright). What happens to one clip:

1. ``frames`` frames are sampled at equal intervals over the clip at native resolution (:func:`sample_clip`).
2. A frame whose short side is under ``upscale_below`` pixels is upscaled (bicubic) to that size, so that small
   text (a 144x256 ad's price badge, a HUD score 11 px high) reaches the detector's scale; the recogniser reads
   its crops from the upscaled frame. The detector sees the frame downscaled to at most ``det_max_side`` pixels.
3. A frame that barely differs from the last frame read (mean absolute difference of coarse grey thumbnails
   under ``unchanged_diff``) is not read again: it shows what that frame showed.
4. The detector finds text boxes; a box at the place of a box already read in this clip, over the same pixels,
   takes that reading (static overlays are recognised once); the others are recognised in one batch.
5. Readings under ``min_score`` are dropped, the rest are merged across frames by their text (case and
   whitespace folded). A line is kept when its best reading scores at least ``confident_score`` and it was read
   in at least ``min_frames`` of the sampled frames (or in every frame of a clip with fewer), or when it was read
   in at least ``persistent_frames`` frames (any score from ``min_score``), or once with a score of at least
   ``single_frame_score``: overlays persist, while misreadings of moving or half-hidden text (a product label
   turning) change from frame to frame or score lower.

The recogniser may drop a narrow space between words ("SHOPNOW"); compare texts with whitespace folded.

``OcrEngine.read_frames`` returns a :class:`ClipOcr`: the merged lines with the time of the frame each was first
read in, its box in native pixels, its best score and the number of frames it was read in.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import Any

import numpy as np

from media.frames import sample_frames

__all__ = ["ClipOcr", "OcrEngine", "OcrLine", "OcrOptions", "ocr_source", "sample_clip"]

_PACKAGE = "rapidocr-onnxruntime"
_THUMB_SIDE = 64  # long side of the grey thumbnails compared to find unchanged frames


@dataclass(frozen=True)
class OcrOptions:
    """How clips are sampled and read. The defaults are tuned on synthetic 144x256 ads (``benchmarks.ocr``)."""

    frames: int = 3  # frames sampled per clip, at the centres of equal segments
    upscale_below: int = 288  # px: frames whose short side is smaller are upscaled to it (bicubic)
    det_max_side: int = 640  # px: the detector sees the (upscaled) frame downscaled to this long side at most
    min_score: float = 0.75  # recognition confidence under which a reading is dropped
    confident_score: float = 0.9  # best score a line needs when read in min_frames frames...
    min_frames: int = 2  # ...(capped at the frames sampled)
    persistent_frames: int = 3  # a line read in this many frames needs only min_score
    single_frame_score: float = 1.01  # a line read in one frame needs this score (> 1: never kept)
    unchanged_diff: float = 1.5  # mean |difference| (0-255) of grey thumbnails under which a frame is not re-read
    reuse_diff: float = 6.0  # mean |difference| (0-255) of a box's pixels under which its earlier reading is reused
    reuse_iou: float = 0.7  # overlap a box needs with an earlier box to reuse its reading

    def __post_init__(self) -> None:
        checks = {
            "frames >= 1": self.frames >= 1,
            "upscale_below >= 0": self.upscale_below >= 0,
            "det_max_side >= 64": self.det_max_side >= 64,
            "0 <= min_score <= 1": 0 <= self.min_score <= 1,
            "min_frames >= 1": self.min_frames >= 1,
            "persistent_frames >= min_frames": self.persistent_frames >= self.min_frames,
            "min_score <= confident_score": self.min_score <= self.confident_score,
            "unchanged_diff >= 0": self.unchanged_diff >= 0,
            "reuse_diff >= 0": self.reuse_diff >= 0,
            "0 < reuse_iou <= 1": 0 < self.reuse_iou <= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid OCR options: need {', '.join(bad)}; got {self}")


@dataclass(frozen=True)
class OcrLine:
    """One line of on-screen text, merged over the frames it was read in."""

    text: str
    score: float  # best recognition confidence over its readings, 0-1
    t_s: float  # time (s, in the video) of the first sampled frame it was read in
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in native pixels of that frame, axis-aligned
    frames: int  # sampled frames it was read in


@dataclass(frozen=True)
class ClipOcr:
    """The on-screen text of one clip."""

    lines: tuple[OcrLine, ...]  # in order of first appearance, then top to bottom, left to right
    frames_sampled: int
    frames_read: int  # frames the detector ran on (the others were unchanged)
    size: tuple[int, int]  # (width, height) of the native frames
    boxes_recognized: int = 0  # text boxes the recogniser read
    boxes_reused: int = 0  # text boxes that took the reading of the same box in an earlier frame

    @property
    def text(self) -> str:
        """The lines joined by newlines ('' when the clip shows no text)."""
        return "\n".join(line.text for line in self.lines)

    def meta(self) -> dict[str, Any]:
        """A JSON-serialisable dict: each line's text, time, box, score and frame count, and the sampling."""
        return {
            "lines": [
                {
                    "text": ln.text,
                    "t_s": round(ln.t_s, 3),
                    "box": list(ln.box),
                    "score": round(ln.score, 4),
                    "frames": ln.frames,
                }
                for ln in self.lines
            ],
            "frames_sampled": self.frames_sampled,
            "frames_read": self.frames_read,
            "width": self.size[0],
            "height": self.size[1],
        }


def ocr_source() -> str:
    """The id of what writes OCR texts: ``rapidocr:<version of rapidocr-onnxruntime>`` (its models ship inside)."""
    from importlib.metadata import version

    return f"rapidocr:{version(_PACKAGE)}"


def sample_clip(path: str | Path, start_s: float, end_s: float, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``n`` frames at equal intervals over ``[start_s, end_s)`` at native resolution.

    Returns:
        ``(frames, times)``: uint8 (n, H, W, 3) RGB frames and float64 (n,) times in seconds (the centres of
        the ``n`` equal segments; each decoded frame is the one shown at that time).

    Raises:
        FileNotFoundError, MediaError (``NotAVideoError``, ``EmptyFileError``, ...): the file cannot be decoded.
        ValueError: a time range outside the video.
    """
    frames = sample_frames(path, start_s, end_s, n=n, size=None)
    step = (end_s - start_s) / n
    return frames, start_s + (np.arange(n) + 0.5) * step


def _require_rapidocr() -> Any:
    try:
        import rapidocr_onnxruntime
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise ImportError(f"OCR needs {_PACKAGE}: pip install '{_PACKAGE}==1.4.4'") from e
    return rapidocr_onnxruntime


class _Models:
    """One detector and one recogniser session (single-threaded; one per worker thread)."""

    def __init__(self) -> None:
        pkg = _require_rapidocr()
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.utils import read_yaml, update_model_path

        config = update_model_path(read_yaml(Path(pkg.__file__).parent / "config.yaml"))
        for part in ("Det", "Rec"):
            config[part]["intra_op_num_threads"] = 1  # clips run in parallel threads instead (small images)
            config[part]["inter_op_num_threads"] = 1
        # The frame reaches the detector already at its size; "min" with 32 only rounds it to multiples of 32.
        config["Det"]["limit_type"], config["Det"]["limit_side_len"] = "min", 32
        config["Rec"]["rec_batch_num"] = 16
        self.det = TextDetector(config["Det"])
        self.rec = TextRecognizer(config["Rec"])


@dataclass
class _Reading:
    text: str
    score: float
    quad: np.ndarray  # (4, 2) float32 in the upscaled frame
    frame: int
    grey: np.ndarray = field(repr=False)  # its frame in grey (upscaled), for reuse checks
    reused: bool = False  # taken from an earlier frame's reading of the same box, not recognised here


class OcrEngine:
    """PP-OCRv4 detection and recognition on CPU; reads the sampled frames of clips (see the module docstring).

    Loading takes about a second; load one engine per process and pass it down. ``threads`` sessions run clips of
    a batch in parallel (:meth:`read_batch`); a single :meth:`read_frames` call uses one of them.
    """

    def __init__(self, options: OcrOptions | None = None, *, threads: int = 2) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.options = options or OcrOptions()
        self.source = ocr_source()
        self.threads = threads
        self._pool: SimpleQueue[_Models] = SimpleQueue()
        for _ in range(threads):
            self._pool.put(_Models())

    # --- public ------------------------------------------------------------------------------------------------
    def read_clip(self, path: str | Path, start_s: float, end_s: float) -> ClipOcr:
        """Sample ``options.frames`` frames of ``[start_s, end_s)`` and read them (see :func:`sample_clip`)."""
        frames, times = sample_clip(path, start_s, end_s, self.options.frames)
        return self.read_frames(frames, times)

    def read_batch(self, clips: Sequence[tuple[np.ndarray, Sequence[float]]]) -> list[ClipOcr]:
        """Read several clips' ``(frames, times)`` on ``threads`` parallel sessions; results in input order."""
        if self.threads == 1 or len(clips) <= 1:
            return [self.read_frames(f, t) for f, t in clips]
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="ocr") as pool:
            return list(pool.map(lambda c: self.read_frames(*c), clips))

    def read_frames(self, frames: np.ndarray, times: Sequence[float]) -> ClipOcr:
        """Read the on-screen text of one clip from its sampled frames.

        Args:
            frames: uint8 (n, H, W, 3) RGB frames in time order (e.g. from :func:`sample_clip`).
            times: Their times in seconds, (n,).

        Returns:
            A :class:`ClipOcr`.
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
            raise ValueError(f"frames must be a non-empty uint8 (n, H, W, 3) array, got {frames.dtype} {frames.shape}")
        if len(times) != len(frames):
            raise ValueError(f"{len(times)} times for {len(frames)} frames")
        models = self._pool.get()
        try:
            return self._read(models, frames, [float(t) for t in times])
        finally:
            self._pool.put(models)

    # --- one clip ----------------------------------------------------------------------------------------------
    def _read(self, models: _Models, frames: np.ndarray, times: list[float]) -> ClipOcr:
        import cv2

        o = self.options
        n, h, w = frames.shape[:3]
        scale = max(1.0, o.upscale_below / min(h, w))  # native -> the frame the recogniser reads
        det_scale = min(1.0, o.det_max_side / (max(h, w) * scale))  # that frame -> the detector's input
        seen: dict[int, list[_Reading]] = {}  # frame -> its readings (score >= min_score or not)
        last_thumb: np.ndarray | None = None
        last_read = -1
        read: list[int] = []  # frames the detector ran on
        for i in range(n):
            thumb = _thumb(frames[i])
            if last_thumb is not None and float(np.abs(thumb - last_thumb).mean()) < o.unchanged_diff:
                seen[i] = [_Reading(r.text, r.score, r.quad, i, r.grey) for r in seen[last_read]]
                continue
            bgr = np.ascontiguousarray(frames[i, :, :, ::-1])
            big = bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            small = (
                big
                if det_scale == 1.0
                else cv2.resize(big, None, fx=det_scale, fy=det_scale, interpolation=cv2.INTER_AREA)
            )
            seen[i] = self._read_frame(models, big, small, i, [r for j in range(i) for r in seen[j]])
            last_thumb, last_read = thumb, i
            read.append(i)
        reused = sum(r.reused for i in read for r in seen[i])
        return ClipOcr(
            lines=tuple(_merge(seen, times, scale, o, n)),
            frames_sampled=n,
            frames_read=len(read),
            size=(w, h),
            boxes_recognized=sum(len(seen[i]) for i in read) - reused,
            boxes_reused=reused,
        )

    def _read_frame(
        self, models: _Models, big: np.ndarray, small: np.ndarray, i: int, earlier: list[_Reading]
    ) -> list[_Reading]:
        boxes, _ = models.det(small)
        if boxes is None or len(boxes) == 0:
            return []
        ratio = big.shape[1] / small.shape[1]
        grey = big.mean(axis=2, dtype=np.float32)
        out: list[_Reading] = []
        todo: list[np.ndarray] = []
        for quad in sorted((np.asarray(b, np.float32) * ratio for b in boxes), key=lambda q: (q[0, 1], q[0, 0])):
            reused = _reuse(quad, grey, earlier, self.options)
            if reused is not None:
                out.append(_Reading(reused.text, reused.score, quad, i, grey, reused=True))
            else:
                todo.append(quad)
        if todo:
            results, _ = models.rec([_crop(big, q) for q in todo])
            out += [_Reading(str(t), float(s), q, i, grey) for q, (t, s) in zip(todo, results, strict=True)]
        return out


def _thumb(frame: np.ndarray) -> np.ndarray:
    """A coarse grey thumbnail (long side 64) as float32, to compare frames cheaply."""
    import cv2

    h, w = frame.shape[:2]
    f = _THUMB_SIDE / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA).astype(np.float32)


def _bbox(quad: np.ndarray) -> tuple[float, float, float, float]:
    return float(quad[:, 0].min()), float(quad[:, 1].min()), float(quad[:, 0].max()), float(quad[:, 1].max())


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _reuse(quad: np.ndarray, grey: np.ndarray, earlier: list[_Reading], o: OcrOptions) -> _Reading | None:
    """An earlier reading of (nearly) the same box whose pixels are (nearly) the same in this frame, or None.

    The pixels are compared over the earlier box in both frames, so that a box the detector drew a pixel wider
    or narrower this time still matches."""
    box = _bbox(quad)
    for r in reversed(earlier):  # the latest frame first
        then = _bbox(r.quad)
        if _iou(box, then) < o.reuse_iou or r.grey.shape != grey.shape:
            continue
        h, w = grey.shape
        ys = slice(max(0, int(then[1])), min(h, math.ceil(then[3])))
        xs = slice(max(0, int(then[0])), min(w, math.ceil(then[2])))
        a, b = grey[ys, xs], r.grey[ys, xs]
        if a.size and float(np.abs(a - b).mean()) < o.reuse_diff:
            return r
    return None


def _crop(img: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The text box straightened to a rectangle (PaddleOCR's rotate-crop); tall boxes are turned to lie flat."""
    import cv2

    w = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    h = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    w, h = max(w, 1), max(h, 1)
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    out = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(out) if h / w >= 1.5 else out


def _key(text: str) -> str:
    """What two readings must share to be one line: the text with case and whitespace folded."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _merge(seen: dict[int, list[_Reading]], times: list[float], scale: float, o: OcrOptions, n: int) -> list[OcrLine]:
    groups: dict[str, list[_Reading]] = {}
    for i in sorted(seen):
        for r in seen[i]:
            text = " ".join(r.text.split())
            if r.score >= o.min_score and text:
                groups.setdefault(_key(text), []).append(r)
    need = min(o.min_frames, n)
    lines = []
    for readings in groups.values():
        n_frames = len({r.frame for r in readings})
        best = max(readings, key=lambda r: r.score)
        keep = (
            (n_frames >= need and best.score >= o.confident_score)
            or n_frames >= o.persistent_frames
            or best.score >= o.single_frame_score
        )
        if not keep:
            continue
        first = min(readings, key=lambda r: (r.frame, r.quad[0, 1], r.quad[0, 0]))
        x0, y0, x1, y1 = (v / scale for v in _bbox(first.quad))
        lines.append(
            OcrLine(
                text=" ".join(best.text.split()),
                score=best.score,
                t_s=times[first.frame],
                box=(int(x0), int(y0), math.ceil(x1), math.ceil(y1)),
                frames=n_frames,
            )
        )
    lines.sort(key=lambda ln: (ln.t_s, ln.box[1], ln.box[0], ln.text))
    return lines

"""Clips as training/encoding samples: ``ClipItem`` records, frame loading through ``media``, frame caches."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from media.progress import progress_bar

__all__ = ["ClipDataset", "ClipItem", "FrameLoader", "collate_clips", "default_frame_loader"]

logger = logging.getLogger(__name__)

# (path, start_s, end_s, *, n, size, mode) -> uint8 (n, H, W, 3); the signature of media.sample_frames.
FrameLoader = Callable[..., np.ndarray]


@dataclass(frozen=True)
class ClipItem:
    """One clip as the caller's catalog describes it; ``retrieval`` never reads the catalog itself."""

    clip_id: int  # catalog id of the clip (int64)
    path: str  # video file holding the clip
    start_s: float  # clip start within the video, seconds
    end_s: float  # clip end within the video, seconds
    texts: dict[str, list[str]] = field(default_factory=dict)  # kind ("asr", "reference", "general", ...) -> texts


def _default_single() -> FrameLoader | None:
    try:
        return default_frame_loader()
    except ImportError:
        return None


def _default_many_loader() -> Callable[..., list[np.ndarray]] | None:
    # media.sample_clips: the clips of one video in one decoding pass (same frames as sample_frames per clip)
    try:
        import media
    except ImportError:
        return None
    return getattr(media, "sample_clips", None)


def default_frame_loader() -> FrameLoader:
    """``media.sample_frames``, imported on demand (``retrieval`` imports ``media`` only here).

    Raises:
        ImportError: If the ``media`` package or its ``sample_frames`` is not available.
    """
    try:
        import media
    except ImportError as e:
        raise ImportError("the default frame loader needs the media package; pass frame_loader=... instead") from e
    loader = getattr(media, "sample_frames", None)
    if loader is None:
        raise ImportError("media.sample_frames is not available; pass frame_loader=... instead")
    return loader


class ClipDataset(Dataset):
    """Samples ``n_frames`` frames at equal intervals from each clip, optionally caching the decoded frames.

    Items are ``{"index": int, "clip_id": int, "frames": uint8 tensor (T, H, W, 3)}``. Frames stay uint8 until
    they reach the model's device (see ``preprocess_frames``), which keeps worker-to-trainer transfers 4x smaller.

    Caching: ``cache_dir`` stores one uint8 ``.npy`` per clip (keyed by path, range, frame count and size), shared
    by every process and run; ``cache_in_memory`` keeps decoded frames in this object. With DataLoader workers,
    call ``preload()`` first so that forked workers share one in-memory copy.
    """

    def __init__(
        self,
        items: Sequence[ClipItem],
        *,
        n_frames: int,
        image_size: int | tuple[int, int],
        frame_loader: FrameLoader | None = None,
        cache_dir: str | Path | None = None,
        cache_in_memory: bool = False,
    ) -> None:
        hw = (image_size, image_size) if isinstance(image_size, int) else tuple(int(v) for v in image_size)
        if n_frames < 1 or len(hw) != 2 or min(hw) < 1:
            raise ValueError(
                f"n_frames and image_size (side or (height, width)) must be >= 1, got {n_frames} and {image_size}"
            )
        self.items = list(items)
        self.n_frames = n_frames
        self.image_size = image_size  # as given: a square side or (height, width), pixels
        self.image_hw: tuple[int, int] = (hw[0], hw[1])  # frame (height, width), pixels
        self.frame_loader = frame_loader if frame_loader is not None else default_frame_loader()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.cache_in_memory = cache_in_memory
        self._memory: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        frames = self.load_frames(index)
        return {"index": index, "clip_id": self.items[index].clip_id, "frames": torch.from_numpy(frames)}

    def load_frames(self, index: int) -> np.ndarray:
        """uint8 frames (n_frames, H, W, 3) of item ``index``, (H, W) = ``image_hw``, from a cache when possible.

        Raises:
            RuntimeError: If decoding fails (the clip id and path are in the message; the cause is chained).
            ValueError: If the loader returns frames of the wrong shape or dtype.
        """
        if index in self._memory:
            return self._memory[index]
        item = self.items[index]
        cache_file = self._cache_file(item)
        frames = _read_npy(cache_file, self._shape) if cache_file is not None else None
        if frames is None:
            frames = self._decode(item)
            if cache_file is not None:
                _write_npy(cache_file, frames)
        if self.cache_in_memory:
            self._memory[index] = frames
        return frames

    def preload(self, *, progress: bool = False) -> None:
        """Decode (or read from ``cache_dir``) every clip now and keep it in memory.

        With the default frame loader, the clips of one video are decoded together (``media.sample_clips``: one
        pass over the video instead of one seek from a key frame per clip), which gives the same frames.
        """
        self.cache_in_memory = True
        missing: dict[str, list[int]] = {}
        for i, item in enumerate(self.items):
            if i in self._memory:
                continue
            cache_file = self._cache_file(item)
            frames = _read_npy(cache_file, self._shape) if cache_file is not None else None
            if frames is None:
                missing.setdefault(item.path, []).append(i)
            else:
                self._memory[i] = frames
        many = _default_many_loader() if self.frame_loader is _default_single() else None
        bar = progress_bar(total=sum(map(len, missing.values())), desc="decode clips", unit="clip", enabled=progress)
        for path, rows in missing.items():
            if many is not None:
                try:
                    ranges = [(self.items[i].start_s, self.items[i].end_s) for i in rows]
                    decoded = many(path, ranges, n=self.n_frames, size=self._loader_size, mode="crop")
                except Exception:  # one bad clip: load clip by clip below, which names it
                    decoded = None
                if decoded is not None:
                    for i, frames in zip(rows, decoded, strict=True):
                        frames = self._checked(self.items[i], frames)
                        cache_file = self._cache_file(self.items[i])
                        if cache_file is not None:
                            _write_npy(cache_file, frames)
                        self._memory[i] = frames
            for i in rows:
                self.load_frames(i)  # in memory now, or decoded alone (raises with the clip id on failure)
            bar.update(len(rows))
        bar.close()

    @property
    def _shape(self) -> tuple[int, int, int, int]:
        return (self.n_frames, *self.image_hw, 3)

    @property
    def _loader_size(self) -> int | tuple[int, int]:
        # media.sample_frames takes a square side (int) or (height, width).
        h, w = self.image_hw
        return h if h == w else (h, w)

    def _decode(self, item: ClipItem) -> np.ndarray:
        try:
            frames = self.frame_loader(
                item.path, item.start_s, item.end_s, n=self.n_frames, size=self._loader_size, mode="crop"
            )
        except Exception as e:
            raise RuntimeError(f"cannot load frames of clip {item.clip_id} from {item.path}: {e}") from e
        return self._checked(item, frames)

    def _checked(self, item: ClipItem, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.shape != self._shape:
            raise ValueError(
                f"frame loader returned {frames.dtype} {frames.shape} for clip {item.clip_id}, expected uint8 "
                f"{self._shape}"
            )
        return np.ascontiguousarray(frames)

    def _cache_file(self, item: ClipItem) -> Path | None:
        if self.cache_dir is None:
            return None
        h, w = self.image_hw
        size = str(h) if h == w else f"{h}x{w}"  # square keys as before, so existing caches stay valid
        key = f"{item.path}|{item.start_s:.6f}|{item.end_s:.6f}|{self.n_frames}|{size}"
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self.cache_dir / f"{item.clip_id}-{digest}.npy"


def collate_clips(batch: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack dataset items: ``{"index": (B,), "clip_id": (B,) int64, "frames": uint8 (B, T, H, W, 3)}``."""
    return {
        "index": torch.tensor([b["index"] for b in batch], dtype=torch.int64),
        "clip_id": torch.tensor([b["clip_id"] for b in batch], dtype=torch.int64),
        "frames": torch.stack([b["frames"] for b in batch]),  # (B, T, H, W, 3)
    }


def _read_npy(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        frames = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        logger.warning("ignoring unreadable frame cache %s (%s)", path, e)
        return None
    if frames.dtype != np.uint8 or frames.shape != shape:
        logger.warning("ignoring frame cache %s with %s %s, expected uint8 %s", path, frames.dtype, frames.shape, shape)
        return None
    return frames


def _write_npy(path: Path, frames: np.ndarray) -> None:
    # Unique temporary name per process: several DataLoader workers may write the same clip at once.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, frames, allow_pickle=False)
    os.replace(tmp, path)

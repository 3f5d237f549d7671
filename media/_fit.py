"""Fitting decoded frames to an output size: scale while decoding, then centre-crop or letterbox."""

from __future__ import annotations

import numpy as np

__all__ = ["MODES", "decode_size", "finish", "parse_size"]

MODES = ("crop", "letterbox")


def parse_size(size: int | tuple[int, int] | None, mode: str) -> tuple[int, int] | None:
    """Validate ``size`` and ``mode``; returns (height, width) or None for the native size."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if size is None:
        return None
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        hw = (int(size), int(size))
    elif isinstance(size, tuple | list) and len(size) == 2 and all(isinstance(s, int | np.integer) for s in size):
        hw = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"size must be an int, a (height, width) pair of ints, or None; got {size!r}")
    if min(hw) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return hw


def decode_size(width: int, height: int, out: tuple[int, int], mode: str) -> tuple[int, int]:
    """Size (width, height) to scale native ``width`` x ``height`` frames to while decoding.

    ``crop`` scales the short side to fit, so the result covers ``out`` and is cropped; ``letterbox`` scales the
    long side to fit, so the result lies inside ``out`` and is padded.
    """
    oh, ow = out
    if mode == "crop":
        scale = max(oh / height, ow / width)
        return max(ow, round(width * scale)), max(oh, round(height * scale))
    scale = min(oh / height, ow / width)
    return min(ow, max(1, round(width * scale))), min(oh, max(1, round(height * scale)))


def finish(frames: np.ndarray, out: tuple[int, int]) -> np.ndarray:
    """Centre-crop each side longer than ``out`` and centre-pad with black each side shorter: (n, *out, 3).

    After :func:`decode_size`, ``crop`` frames only need cropping and ``letterbox`` frames only need padding.
    """
    n, h, w, _ = frames.shape
    oh, ow = out
    top, left = max(0, (h - oh) // 2), max(0, (w - ow) // 2)
    frames = frames[:, top : top + oh, left : left + ow]  # crop the sides that are too long
    h, w = frames.shape[1:3]
    if (h, w) == (oh, ow):
        return np.ascontiguousarray(frames)
    canvas = np.zeros((n, oh, ow, 3), dtype=np.uint8)
    top, left = (oh - h) // 2, (ow - w) // 2
    canvas[:, top : top + h, left : left + w] = frames
    return canvas

"""Clip thumbnails: the middle frame of a time range, saved as a JPEG."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image

from media.frames import sample_frames

__all__ = ["write_thumbnail"]


def write_thumbnail(
    path: str | Path,
    start_s: float,
    end_s: float,
    out_path: str | Path,
    *,
    width: int = 256,
    quality: int = 85,
) -> Path:
    """Save the middle frame of ``[start_s, end_s)`` as a JPEG ``width`` pixels wide, keeping the aspect ratio.

    The middle frame is the one :func:`media.sample_frames` picks with ``n=1``. The file is written under a
    temporary name in the target directory (created if needed) and renamed, so readers never see half a JPEG.

    Args:
        path: Video file.
        start_s: Clip start in seconds.
        end_s: Clip end in seconds.
        out_path: JPEG file to write.
        width: Thumbnail width in pixels (>= 1); the height follows the frame's aspect ratio.
        quality: JPEG quality, 1 to 95.

    Returns:
        ``out_path`` as a Path.

    Raises:
        ValueError: Bad ``width``, ``quality`` or time range.
        FileNotFoundError, MediaError: As for :func:`media.probe`.
    """
    if not (isinstance(width, int) and width >= 1):
        raise ValueError(f"width must be a positive int, got {width!r}")
    if not (isinstance(quality, int) and 1 <= quality <= 95):
        raise ValueError(f"quality must be an int in 1..95, got {quality!r}")
    frame = sample_frames(path, start_s, end_s, n=1, size=None)[0]  # (H, W, 3)
    h, w = frame.shape[:2]
    height = max(1, round(h * width / w))
    image = Image.fromarray(frame).resize((width, height), Image.Resampling.LANCZOS)

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="JPEG", quality=quality)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out

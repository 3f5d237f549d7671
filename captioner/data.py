"""Training items and the frames a captioner reads for them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from media import sample_frames

from .model import Captioner

__all__ = ["CaptionItem", "load_frames"]


@dataclass(frozen=True)
class CaptionItem:
    """One clip with its texts: ``reference`` (fine-grained), ``general`` caption, ``keywords`` (may be None)."""

    clip_id: int
    path: str
    start_s: float
    end_s: float
    reference: str | None = None
    general: str | None = None
    keywords: list[str] | None = None


def load_frames(model: Captioner, item: CaptionItem) -> np.ndarray:
    """uint8 frames (T, H, W, 3) of ``item`` for ``model``: T frames at equal intervals (the general model: one,
    the middle frame), centre-cropped to the ViT input size (``media.sample_frames``)."""
    return sample_frames(item.path, item.start_s, item.end_s, n=model.num_frames, size=model.image_size, mode="crop")

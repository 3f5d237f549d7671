"""Deterministic catalog ids: the same input always gets the same id, so re-runs and resumed runs agree."""

from __future__ import annotations

import hashlib

__all__ = ["MAX_SHOTS", "clip_id", "failure_video_id", "video_id_for_content"]

MAX_SHOTS = 1024  # clip_id = video_id * MAX_SHOTS + shot_index
_VIDEO_ID_BITS = 52  # 52 + 10 bits of shot index stay below 2**63 (FAISS ids are int64)


def video_id_for_content(sha256: str) -> int:
    """Id of a readable video: the top 52 bits of its content hash (the same file twice is one video)."""
    return int(sha256[: _VIDEO_ID_BITS // 4], 16)


def failure_video_id(catalog_id: str, uri: str | None, row: int | None) -> int:
    """Id of a manifest row that never got a content hash (missing file, malformed row)."""
    key = f"{catalog_id}\0{uri if uri is not None else f'row:{row}'}".encode()
    return video_id_for_content(hashlib.sha256(key).hexdigest())


def clip_id(video_id: int, shot_index: int) -> int:
    """Id of shot ``shot_index`` of a video."""
    assert 0 <= shot_index < MAX_SHOTS, f"shot index {shot_index} out of range [0, {MAX_SHOTS})"
    return video_id * MAX_SHOTS + shot_index

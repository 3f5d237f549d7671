"""write_thumbnail: a JPEG of the clip's middle frame, aspect kept, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media import MediaError, write_thumbnail
from tests.media.media_helpers import decode_index


def test_thumbnail_is_the_middle_frame(index_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "thumbs" / "deep" / "clip.jpg"  # parent directories are created
    got = write_thumbnail(index_video, 1.0, 3.0, out, width=72, quality=90)
    assert got == out
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG magic
    with Image.open(out) as im:
        assert im.format == "JPEG"
        assert im.size == (72, 128)  # 144x256 scaled to 72 wide keeps 9:16
        frame = np.asarray(im.convert("RGB"))
    assert decode_index(frame) == 20  # the middle of [1, 3) s at 10 fps
    assert [p.name for p in out.parent.iterdir()] == ["clip.jpg"]  # no temporary file left behind


def test_thumbnail_overwrites(index_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "clip.jpg"
    write_thumbnail(index_video, 0.0, 1.0, out)
    write_thumbnail(index_video, 4.0, 5.0, out)
    with Image.open(out) as im:
        assert im.size == (256, 455)
        assert decode_index(np.asarray(im.convert("RGB"))) == 45


def test_thumbnail_errors(index_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.jpg"
    with pytest.raises(ValueError, match="width"):
        write_thumbnail(index_video, 0.0, 1.0, out, width=0)
    with pytest.raises(ValueError, match="quality"):
        write_thumbnail(index_video, 0.0, 1.0, out, quality=101)
    with pytest.raises(ValueError, match="outside the video"):
        write_thumbnail(index_video, 6.0, 7.0, out)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError):
        write_thumbnail(bad, 0.0, 1.0, out)
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]

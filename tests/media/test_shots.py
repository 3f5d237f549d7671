"""detect_shots: true cuts found within a frame, none invented inside moving/zooming shots, merging, fragments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from media import ShotDetection, detect_shots, write_video
from tests.media.media_helpers import FPS, H, W, shot_frames

MakeShots = Callable[..., tuple[Path, list[int]]]


def _match(found: list[int], truth: list[int], tol: int = 1) -> tuple[int, int]:
    """(true positives, false positives) when each true cut may be claimed once within ``tol`` frames."""
    claimed: set[int] = set()
    tp = fp = 0
    for f in found:
        hit = next((t for t in truth if abs(t - f) <= tol and t not in claimed), None)
        if hit is None:
            fp += 1
        else:
            claimed.add(hit)
            tp += 1
    return tp, fp


def test_flat_colour_scenes_exact(make_shots: MakeShots) -> None:
    path, cuts = make_shots([("flat", 12), ("flat", 7), ("flat", 20), ("flat", 15), ("flat", 9)])
    det = detect_shots(path)
    assert isinstance(det, ShotDetection)
    assert det.cuts == cuts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_moving_zooming_panning_shots(make_shots: MakeShots, seed: int) -> None:
    rng = np.random.default_rng(seed)
    kinds = ["moving", "zoom", "pan", "flat", "moving", "zoom", "pan"]
    shots = [(str(k), int(rng.integers(5, 30))) for k in rng.permutation(kinds)]
    path, cuts = make_shots(shots, seed=seed)
    det = detect_shots(path, threshold=0.1)
    tp, fp = _match(det.cuts, cuts)
    assert (tp, fp) == (len(cuts), 0), f"found {det.cuts}, true {cuts}"


@pytest.mark.parametrize("kind", ["zoom", "moving", "pan"])
def test_no_cut_inside_one_long_shot(make_shots: MakeShots, kind: str) -> None:
    path, cuts = make_shots([(kind, 60)], seed=7)
    assert cuts == []
    det = detect_shots(path)
    assert det.cuts == []
    assert det.clips == [(0.0, 6.0)]


def test_overlay_popping_in_is_not_a_cut(tmp_path: Path) -> None:
    # A caption bar (15% of the frame) appears at frame 20 of a 40-frame shot, as ad overlays do.
    frames = shot_frames("moving", 40, np.random.default_rng(3))
    stripes = ((np.arange(W) // 6) % 2 * 255).astype(np.uint8)  # (W,) black/white text-like stripes
    for f in frames[20:]:
        f[200:238] = stripes[None, :, None]
    det = detect_shots(write_video(tmp_path / "overlay.mp4", frames, FPS))
    assert det.cuts == []


def test_short_shot_merges_across_its_weaker_cut(tmp_path: Path) -> None:
    # red (20 frames) | dark red (4 frames, a weak cut) | blue (15 frames): the 0.4 s shot joins the red one
    colours = [((200, 30, 30), 20), ((150, 20, 20), 4), ((30, 30, 200), 15)]
    frames = [np.full((H, W, 3), c, np.uint8) for c, n in colours for _ in range(n)]
    det = detect_shots(write_video(tmp_path / "merge.mp4", frames, FPS), min_shot_s=1.0)
    assert det.cuts == [20, 24]
    assert det.clips == [(0.0, 2.4), (2.4, 3.9)]
    no_merge = detect_shots(tmp_path / "merge.mp4", min_shot_s=0.0)
    assert no_merge.clips == [(0.0, 2.0), (2.0, 2.4), (2.4, 3.9)]


def test_clips_cover_the_video_and_respect_min_shot(make_shots: MakeShots) -> None:
    path, _ = make_shots([("flat", 3), ("moving", 25), ("flat", 4), ("flat", 6), ("zoom", 22), ("flat", 2)])
    det = detect_shots(path, min_shot_s=1.0)
    starts, ends = zip(*det.clips, strict=True)
    assert starts[0] == 0.0 and ends[-1] == pytest.approx(6.2)
    assert all(a == pytest.approx(b) for a, b in zip(ends[:-1], starts[1:], strict=True))  # contiguous
    assert all(e - s >= 1.0 - 1e-9 for s, e in det.clips)


def test_fragmented_flag(make_shots: MakeShots) -> None:
    # six 0.5 s fragments (3 s) and one 2 s shot: 60% of the 5 s lies in raw shots shorter than 1 s
    path, cuts = make_shots([("flat", 5)] * 6 + [("moving", 20)], seed=4)
    det = detect_shots(path)
    assert det.cuts == cuts
    assert det.fragment_share == pytest.approx(0.6)
    assert det.fragmented
    assert not detect_shots(path, max_fragment_share=0.7).fragmented
    assert detect_shots(path, fragment_s=0.4).fragment_share == 0.0


def test_not_fragmented(make_shots: MakeShots) -> None:
    path, _ = make_shots([("moving", 30), ("flat", 5), ("zoom", 30)], seed=5)
    det = detect_shots(path)
    assert det.fragment_share == pytest.approx(5 / 65)
    assert not det.fragmented


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"min_shot_s": -1.0}, "min_shot_s"),
        ({"max_fragment_share": 2.0}, "max_fragment_share"),
    ],
)
def test_rejects_bad_options(index_video: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        detect_shots(index_video, **kwargs)

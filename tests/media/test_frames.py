"""frame_indices / sample_frames / read_frame: the right frames, in order, fitted to the asked size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media import detect_shots, frame_indices, probe, read_frame, sample_frames, write_video
from tests.media.media_helpers import H, W, decode_index, index_frames, pyav_frames, textured_frames, write_vfr

# --- frame_indices -------------------------------------------------------------------------------------------------


def test_frame_indices_hand_computed() -> None:
    # 5 s at 10 fps, 8 segments of 0.625 s; centres 0.3125, 0.9375, ... s -> frames 3.125, 9.375, ... floored
    got = frame_indices(0.0, 5.0, fps=10, frame_count=50, n=8)
    assert got.dtype == np.int64
    assert got.tolist() == [3, 9, 15, 21, 28, 34, 40, 46]


def test_frame_indices_subrange_and_single() -> None:
    # [1, 2) s at 25 fps: segments of 0.25 s, centres 1.125, 1.375, 1.625, 1.875 s -> 28.125, 34.375, 40.625, 46.875
    assert frame_indices(1.0, 2.0, fps=25, frame_count=100, n=4).tolist() == [28, 34, 40, 46]
    # n=1 takes the middle: 2.5 s at 10 fps is exactly frame 25
    assert frame_indices(0.0, 5.0, fps=10, frame_count=50, n=1).tolist() == [25]


def test_frame_indices_repeat_when_range_is_short() -> None:
    # [0.2, 0.4) s at 10 fps holds frames 2 and 3 only; 8 samples repeat them in order
    got = frame_indices(0.2, 0.4, fps=10, frame_count=50, n=8)
    assert got.tolist() == [2, 2, 2, 2, 3, 3, 3, 3]


def test_frame_indices_clamped_to_video() -> None:
    got = frame_indices(4.0, 9.0, fps=10, frame_count=50, n=5)  # range runs past the last frame (49)
    assert got.tolist() == [45, 49, 49, 49, 49]


@pytest.mark.parametrize("seed", range(5))
def test_frame_indices_non_decreasing_and_inside(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        fps = float(rng.uniform(5, 60))
        count = int(rng.integers(1, 2000))
        start = float(rng.uniform(0, count / fps))
        end = start + float(rng.uniform(1e-3, 10))
        n = int(rng.integers(1, 33))
        got = frame_indices(start, end, fps=fps, frame_count=count, n=n)
        assert got.shape == (n,)
        assert np.all(np.diff(got) >= 0)
        assert got.min() >= min(int(start * fps), count - 1) and got.max() <= count - 1


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0.0, 1.0), {"fps": 10, "frame_count": 10, "n": 0}, "n must be"),
        ((1.0, 1.0), {"fps": 10, "frame_count": 10}, "start_s < end_s"),
        ((-1.0, 1.0), {"fps": 10, "frame_count": 10}, "0 <= start_s"),
        ((0.0, float("nan")), {"fps": 10, "frame_count": 10}, "finite"),
        ((0.0, 1.0), {"fps": 0, "frame_count": 10}, "fps"),
        ((0.0, 1.0), {"fps": 10, "frame_count": 0}, "frame_count"),
    ],
)
def test_frame_indices_rejects_bad_arguments(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        frame_indices(*args, **kwargs)


# --- sample_frames -------------------------------------------------------------------------------------------------


def test_sample_frames_recovers_indices_in_order(index_video: Path) -> None:
    frames = sample_frames(index_video, n=8, size=None)
    assert frames.shape == (8, H, W, 3) and frames.dtype == np.uint8
    assert [decode_index(f) for f in frames] == [3, 9, 15, 21, 28, 34, 40, 46]


def test_sample_frames_subrange_with_repeats(index_video: Path) -> None:
    frames = sample_frames(index_video, 2.0, 2.2, n=4, size=64)  # frames 20 and 21
    assert frames.shape == (4, 64, 64, 3)
    assert [decode_index(f) for f in frames] == [20, 20, 21, 21]


def test_sample_frames_end_tolerance(index_video: Path) -> None:
    frames = sample_frames(index_video, 4.5, 5.05, n=2, size=None)  # 50 ms past the 5 s end is accepted
    assert [decode_index(f) for f in frames] == [46, 48]


@pytest.mark.parametrize(
    ("start", "end", "kwargs", "match"),
    [
        (0.0, 6.0, {}, "outside the video"),
        (5.0, None, {}, "outside the video"),
        (2.0, 1.0, {}, "start_s < end_s"),
        (0.0, 1.0, {"n": 0}, "n must be"),
        (0.0, 1.0, {"mode": "stretch"}, "mode must be one of"),
        (0.0, 1.0, {"size": 0}, "positive"),
        (0.0, 1.0, {"size": (10, 10, 3)}, "size must be"),
        (0.0, 1.0, {"size": 1.5}, "size must be"),
    ],
)
def test_sample_frames_rejects_bad_arguments(
    index_video: Path, start: float, end: float | None, kwargs: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        sample_frames(index_video, start, end, **kwargs)


def test_vertical_to_square_crop_keeps_centre_band(banded_video: Path) -> None:
    # 144x256 (W x H) with red / green / blue bands on rows 0-64 / 64-192 / 192-256. The crop keeps the middle
    # 144 rows (56-200): scaled by 224/144 that is 8 rows of red (-> 12.4 rows), all the green, 8 rows of blue.
    frames = sample_frames(banded_video, n=2, size=224, mode="crop")
    assert frames.shape == (2, 224, 224, 3)
    f = frames[0].astype(int)
    assert f[:10, :, 0].mean() > 230 and f[:10, :, 1].mean() < 25  # the last rows of the red band
    assert f[16:208, :, 1].mean() > 230 and f[16:208, :, 0].mean() < 25  # the whole green band
    assert f[-10:, :, 2].mean() > 230 and f[-10:, :, 1].mean() < 25  # the first rows of the blue band
    red_rows = int((f[:, 112, 0] > 128).sum())
    assert 11 <= red_rows <= 14  # most of the red band (64 rows -> 100 after scaling) is cut away


def test_vertical_to_square_letterbox_keeps_whole_frame(banded_video: Path) -> None:
    # scaled to 224 rows -> 126 columns, centred: black bars of 49 columns on each side
    frames = sample_frames(banded_video, n=2, size=224, mode="letterbox")
    assert frames.shape == (2, 224, 224, 3)
    f = frames[0].astype(int)
    assert f[:, :47].max() == 0 and f[:, -47:].max() == 0  # bars (2 px margin for the scaler's edge)
    content = f[:, 51:-51]
    assert content[:50, :, 0].mean() > 230  # red top quarter survives
    assert content[-50:, :, 2].mean() > 230  # blue bottom quarter survives
    assert content[80:140, :, 1].mean() > 230  # green middle


def test_tuple_size_is_height_width(banded_video: Path) -> None:
    assert sample_frames(banded_video, n=1, size=(128, 72), mode="crop").shape == (1, 128, 72, 3)
    assert sample_frames(banded_video, n=1, size=(50, 200), mode="letterbox").shape == (1, 50, 200, 3)


@pytest.mark.parametrize("width", [48, 72])
def test_widths_that_trip_decord_are_read(tmp_path: Path, width: int) -> None:
    # decord 0.6 cannot copy frames exactly 16, 24, 48 or 72 pixels wide; the reader decodes wider and trims
    path = write_video(tmp_path / "narrow.mp4", index_frames(12, h=32, w=width), 10, crf=10)
    frames = sample_frames(path, n=3, size=None)
    assert frames.shape == (3, 32, width, 3)
    assert [decode_index(f) for f in frames] == [2, 6, 10]
    assert sample_frames(path, n=1, size=48).shape == (1, 48, 48, 3)


# --- read_frame ----------------------------------------------------------------------------------------------------


def test_read_frame(index_video: Path) -> None:
    assert decode_index(read_frame(index_video, 0.0)) == 0
    assert decode_index(read_frame(index_video, 2.35)) == 23
    assert decode_index(read_frame(index_video, 5.0)) == 49  # the end time gives the last frame
    square = read_frame(index_video, 1.0, size=32, mode="letterbox")
    assert square.shape == (32, 32, 3)
    with pytest.raises(ValueError, match="past the end"):
        read_frame(index_video, 6.0)
    with pytest.raises(ValueError, match="t_s"):
        read_frame(index_video, -1.0)


# --- issue 15: narrow videos at their native size, variable frame rate -------------------------------------------


@pytest.mark.parametrize("width", [16, 48, 72])
def test_native_frames_of_narrow_videos_match_pyav(tmp_path: Path, width: int) -> None:
    # issue 15 #2: decord cannot copy frames of these widths; decoding one column wider and cutting stretched the
    # picture (mean error 30/255 against PyAV at 72 px). Native-size frames must be the decoded pixels themselves.
    path = write_video(tmp_path / f"w{width}.mp4", textured_frames(6, 128, width), 10, crf=10)
    truth = pyav_frames(path)  # [(128, width, 3)] * 6
    frames = sample_frames(path, n=6, size=None)
    assert frames.shape == (6, 128, width, 3)
    for i in range(6):
        err = np.abs(frames[i].astype(np.int16) - truth[i].astype(np.int16))
        assert err.mean() < 2.0 and np.percentile(err, 99) < 24, (i, err.mean(), err.max())
        single = read_frame(path, i / 10 + 0.05)
        assert np.abs(single.astype(np.int16) - truth[i].astype(np.int16)).mean() < 2.0
    assert probe(path).width == width


# Frames 0..19 every 100 ms, then frames 20..39 every 300 ms: the average rate (5.1 fps) is wrong everywhere.
VFR_PTS_MS = [100 * i for i in range(20)] + [2000 + 300 * i for i in range(20)]


def _frame_shown_at(t_s: float) -> int:
    return int(np.searchsorted(np.array(VFR_PTS_MS) / 1000, t_s + 1e-9, side="right") - 1)


def test_variable_frame_rate_samples_the_frames_shown_at_the_sample_times(tmp_path: Path) -> None:
    # issue 15 #3: sample times were mapped to frames through the average fps (up to 0.64 s off on a VFR file)
    path = write_vfr(tmp_path / "vfr.mp4", index_frames(40), VFR_PTS_MS)
    info = probe(path)
    assert info.frame_count == 40
    assert info.duration_s >= 7.7 + 0.05  # the last frame starts at 7.7 s; the average-fps estimate said 7.4 s
    assert info.duration_s == pytest.approx(7.8, abs=0.31)
    assert info.fps == pytest.approx(info.frame_count / info.duration_s)
    for t in (0.0, 0.55, 1.95, 2.0, 2.45, 3.25, 5.0, 7.75):
        assert decode_index(read_frame(path, t)) == _frame_shown_at(t), t
        assert decode_index(read_frame(path, t, size=32)) == _frame_shown_at(t), t
    # [2, 4) s in 4 segments: centres 2.25, 2.75, 3.25, 3.75 s
    got = [decode_index(f) for f in sample_frames(path, 2.0, 4.0, n=4, size=None)]
    assert got == [_frame_shown_at(t) for t in (2.25, 2.75, 3.25, 3.75)] == [20, 22, 24, 25]
    whole = [decode_index(f) for f in sample_frames(path, n=8, size=48)]
    step = info.duration_s / 8
    assert whole == [_frame_shown_at((k + 0.5) * step) for k in range(8)]


def test_variable_frame_rate_shots_are_cut_at_their_time(tmp_path: Path) -> None:
    # issue 15 #3: a cut at frame 20 of the VFR file lies at 2.0 s, not at 20 / average fps (3.9 s)
    red, blue = np.zeros((H, W, 3), np.uint8), np.zeros((H, W, 3), np.uint8)
    red[..., 0], blue[..., 2] = 220, 220
    path = write_vfr(tmp_path / "vfr_shots.mp4", [red] * 20 + [blue] * 20, VFR_PTS_MS)
    det = detect_shots(path)
    assert det.cuts == [20]
    assert det.clips[0] == pytest.approx((0.0, 2.0))
    assert det.clips[1][0] == pytest.approx(2.0) and det.clips[1][1] == pytest.approx(probe(path).duration_s)

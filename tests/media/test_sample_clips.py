"""``sample_clips``: several clips of one video decoded in one pass, frame for frame equal to ``sample_frames``."""

from __future__ import annotations

import numpy as np
import pytest

from media import sample_clips, sample_frames


@pytest.mark.parametrize("size", [None, (32, 18), 24])
def test_sample_clips_equals_sample_frames_per_clip(index_video, size):
    ranges = [(3.0, 5.0), (0.0, 1.0), (0.5, 3.5), (4.0, 4.9)]  # unsorted and overlapping
    got = sample_clips(index_video, ranges, n=5, size=size)
    assert len(got) == len(ranges)
    for (a, b), frames in zip(ranges, got, strict=True):
        np.testing.assert_array_equal(frames, sample_frames(index_video, a, b, n=5, size=size))


def test_sample_clips_rejects_a_range_outside_the_video(index_video):
    with pytest.raises(ValueError, match="outside the video"):
        sample_clips(index_video, [(0.0, 1.0), (4.0, 9.0)], n=2)
    assert sample_clips(index_video, [], n=2) == []

"""Shot segmentation: hard cuts from colour-histogram changes between frames, short shots merged."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from media._reader import Reader, check_path, inspect_container
from media.errors import NotAVideoError
from media.progress import progress_bar

__all__ = ["ShotDetection", "detect_shots"]

_log = logging.getLogger(__name__)

_SIDE = 64  # frames are scaled to _SIDE x _SIDE while decoding: enough for colour statistics, cheap to compare
_H_BINS, _S_BINS, _V_BINS = 16, 4, 4  # joint HSV histogram; hue is meaningless at low saturation, so greys share it
_WINDOW = 3  # frames either side whose change scores form the local baseline
_RATIO = 3.0  # a cut's score must be this many times the local baseline (median of neighbours)...
_FLOOR = 0.02  # ...plus this margin, so that a still shot (baseline ~ 0) does not fire on codec noise


@dataclass(frozen=True)
class ShotDetection:
    """Result of :func:`detect_shots`."""

    cuts: list[int]  # frame index where each new raw shot starts (frame 0 excluded)
    clips: list[tuple[float, float]]  # (start_s, end_s) of each shot after merging shots shorter than min_shot_s
    fragment_share: float  # share of the duration in raw shots shorter than fragment_s
    fragmented: bool  # fragment_share > max_fragment_share: too choppy to describe shot by shot


def detect_shots(
    path: str | Path,
    *,
    threshold: float = 0.25,
    min_shot_s: float = 1.0,
    fragment_s: float = 1.0,
    max_fragment_share: float = 0.3,
    progress: bool = False,
) -> ShotDetection:
    """Find the hard cuts of a video and turn its shots into clips.

    The video is decoded once, scaled to 64x64. The change between consecutive frames is half the L1 distance
    between their joint HSV histograms (16x4x4 bins), in [0, 1]. A frame starts a new shot when its change is at
    least ``threshold`` and at least 3x the median change of the 3 frames either side plus 0.02: steady motion,
    pans and zooms inside a shot give runs of similar scores and do not fire, while a cut stands out as an
    isolated peak. The histogram ignores where colours are, so movement, spins and camera zooms inside a shot
    change it little; a pixel-difference term was tried and dropped, because fast motion and zooms saturate it
    (on a 300-clip synthetic catalog it added 26 false cuts). Dissolves, fades and a single flash frame are not
    handled (a flash makes two cuts around a one-frame shot, which merging then absorbs).

    Raw shots shorter than ``min_shot_s`` are merged into a neighbour, across the weaker of their two cuts,
    shortest first. As in the SVAD paper's filter, a video is ``fragmented`` when more than ``max_fragment_share``
    of its duration lies in raw shots shorter than ``fragment_s``.

    The threshold sits between the histogram changes measured at true cuts (minimum 0.277) and inside shots
    (maximum 0.215) of the synthetic ad catalog (``corpus.synth``, seed 5); ``python -m benchmarks.shots``
    measures precision and recall on any catalog with known shots.

    Args:
        path: Video file.
        threshold: Minimum histogram change of a cut, in (0, 1].
        min_shot_s: Clips shorter than this are merged into a neighbour (seconds, >= 0).
        fragment_s: Raw shots shorter than this count as fragments (seconds, >= 0).
        max_fragment_share: Fragment share of the duration above which the video is flagged, in [0, 1].
        progress: Show a progress bar over the decoded frames.

    Returns:
        The raw cuts, the merged clips (covering the whole video, in order) and the fragment statistics.

    Raises:
        ValueError: An option is out of range.
        FileNotFoundError, MediaError: As for :func:`media.probe`.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if not (min_shot_s >= 0 and fragment_s >= 0):
        raise ValueError(f"min_shot_s and fragment_s must be >= 0, got {min_shot_s!r} and {fragment_s!r}")
    if not 0 <= max_fragment_share <= 1:
        raise ValueError(f"max_fragment_share must be in [0, 1], got {max_fragment_share!r}")
    p = check_path(path)
    facts = inspect_container(p)
    reader = Reader(p, facts, width=_SIDE, height=_SIDE)

    parts, prev = [], None
    with progress_bar(total=reader.frame_count, desc="shots", unit="frame", enabled=progress) as bar:
        for chunk in reader.chunks():  # (k, _SIDE, _SIDE, 3)
            bar.update(len(chunk))
            hists = _hsv_histograms(chunk)  # (k, bins)
            if prev is not None:  # carry the previous chunk's last histogram so the pair across chunks is scored
                hists = np.concatenate([prev, hists])
            parts.append(_change_scores(hists))
            prev = hists[-1:]
    if not parts:
        raise NotAVideoError(p, "no frame could be decoded")
    scores = np.concatenate(parts)  # (T - 1,)
    n_frames = len(scores) + 1  # frames actually decoded (index-less containers may hold fewer than reported)
    cuts = _pick_cuts(scores, threshold=threshold)

    bounds = [0, *cuts, n_frames]
    # frame boundaries in seconds: i / fps, or the frames' timestamps in a variable-frame-rate video
    edges = reader.time_of(np.arange(n_frames + 1))  # (n_frames + 1,); the last: the end of the last frame
    lengths = np.diff(edges[bounds])  # (n_shots,) seconds per raw shot
    fragment_share = float(lengths[lengths < fragment_s - 1e-9].sum() / (edges[-1] - edges[0]))
    kept = _merge_short(bounds, scores, edges, min_shot_s=min_shot_s)
    clips = [(float(edges[a]), float(edges[b])) for a, b in itertools.pairwise(kept)]
    _log.debug("%s: %d cuts, %d clips, fragment share %.2f", p, len(cuts), len(clips), fragment_share)
    return ShotDetection(
        cuts=cuts,
        clips=clips,
        fragment_share=fragment_share,
        fragmented=fragment_share > max_fragment_share,
    )


def _change_scores(hists: np.ndarray) -> np.ndarray:
    """Half the L1 distance between consecutive normalised histograms (T, B) -> (T - 1,), in [0, 1]."""
    return 0.5 * np.abs(np.diff(hists, axis=0)).sum(axis=1)


def _pick_cuts(scores: np.ndarray, *, threshold: float) -> list[int]:
    """Frames that start a new shot: peaks of ``scores`` above ``threshold`` that stand out from their neighbours.

    Args:
        scores: (T - 1,) change scores from :func:`_change_scores`.
        threshold: Minimum score of a cut.

    Returns:
        Sorted frame indices (each >= 1).
    """
    cuts = []
    for i in np.flatnonzero(scores >= threshold):
        neighbours = np.concatenate([scores[max(0, i - _WINDOW) : i], scores[i + 1 : i + 1 + _WINDOW]])
        baseline = float(np.median(neighbours)) if len(neighbours) else 0.0
        if scores[i] >= _RATIO * baseline + _FLOOR:
            cuts.append(int(i) + 1)
    return cuts


def _hsv_histograms(frames: np.ndarray) -> np.ndarray:
    """Normalised joint HSV histograms of frames (k, H, W, 3) -> (k, bins)."""
    hsv = np.stack([np.asarray(Image.fromarray(f).convert("HSV")) for f in frames]).astype(np.int32)  # (k, H, W, 3)
    h = hsv[..., 0] * _H_BINS // 256
    s = hsv[..., 1] * _S_BINS // 256
    v = hsv[..., 2] * _V_BINS // 256
    h = np.where(s == 0, 0, h)
    bins = (h * _S_BINS + s) * _V_BINS + v  # (k, H, W)
    n_bins = _H_BINS * _S_BINS * _V_BINS
    k = len(frames)
    flat = (bins.reshape(k, -1) + n_bins * np.arange(k)[:, None]).ravel()  # one bincount for the whole chunk
    counts = np.bincount(flat, minlength=k * n_bins).reshape(k, n_bins)  # (k, bins)
    return counts / counts.sum(axis=1, keepdims=True)


def _merge_short(bounds: list[int], scores: np.ndarray, edges: np.ndarray, *, min_shot_s: float) -> list[int]:
    """Drop cuts until no shot is shorter than ``min_shot_s``: the shortest shot goes first, across its weaker cut.

    ``edges[i]`` is the start time of frame ``i`` in seconds (``edges[-1]``: the end of the last frame).
    """
    b = list(bounds)
    while len(b) > 2:
        lengths = np.diff(edges[b])  # seconds
        k = int(np.argmin(lengths))
        if lengths[k] >= min_shot_s - 1e-9:
            break
        # Shot k spans [b[k], b[k+1]); its cuts are b[k] (unless k is the first shot) and b[k+1] (unless the last).
        if k == 0:
            drop = 1
        elif k == len(lengths) - 1:
            drop = k
        else:
            drop = k if scores[b[k] - 1] <= scores[b[k + 1] - 1] else k + 1
        del b[drop]
    return b

"""Rendered synthetic catalogs: determinism across workers, clip ranges vs. decoded frames, splits, resume, pixels."""

from __future__ import annotations

import hashlib
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from corpus.manifest import SPLITS, read_manifest
from corpus.synth import generate_catalog, plan_catalog
from corpus.synth.backgrounds import draw_background
from corpus.synth.ontology import COLOURS
from corpus.synth.render import render_frames
from media.writer import write_video
from tests.corpus.conftest import TINY_CLIPS, TINY_SEED, Tiny, decode

FPS = 10


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_same_seed_same_catalog_whatever_the_workers(tiny: Tiny, tiny_serial: Tiny) -> None:
    assert tiny.result.n_clips == TINY_CLIPS and tiny.result.n_rendered == tiny.result.n_videos
    assert tiny.result.manifest_path.read_bytes() == tiny_serial.result.manifest_path.read_bytes()
    for r in tiny.manifest.records:
        a, b = decode(tiny.out / r.uri), decode(tiny_serial.out / r.uri)
        assert len(a) == len(b)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), r.uri


def _churn(frames: Iterator[np.ndarray], seed: int) -> Iterator[np.ndarray]:
    """The frames, with allocations of random sizes made and freed between them (the heap a worker process has)."""
    rng, junk = random.Random(seed), []
    for f in frames:
        junk.append(bytearray(rng.randrange(1, 1 << 18)))
        if len(junk) > 6:
            junk.pop(rng.randrange(len(junk)))
        yield f


def test_same_video_same_bytes_whatever_the_heap(tmp_path: Path) -> None:
    """x264's macroblock tree read memory left over in the process on CPUs with AVX-512 (different bytes and pixels
    from identical frames, in one process as across worker processes): the writer turns it off."""
    video = min(plan_catalog(TINY_CLIPS, seed=TINY_SEED).videos, key=lambda v: v.n_frames)
    digests = set()
    for i in range(5):
        path = write_video(tmp_path / f"{i}.mp4", _churn(render_frames(video, 144, 256), i), video.fps)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert b"mbtree=0" in path.read_bytes()  # x264 writes its settings into the stream
    assert len(digests) == 1


def test_other_seed_other_catalog(tiny: Tiny, tiny_other_seed: Tiny) -> None:
    refs = {c.reference for r in tiny.manifest.records for c in r.clips}
    other = {c.reference for r in tiny_other_seed.manifest.records for c in r.clips}
    assert not refs & other
    a = decode(tiny.out / tiny.manifest.records[0].uri)
    b = decode(tiny_other_seed.out / tiny_other_seed.manifest.records[0].uri)
    assert _diff(a[len(a) // 2], b[len(b) // 2]) > 5


def test_clip_ranges_are_the_shots_on_frame_boundaries(tiny: Tiny) -> None:
    assert len(tiny.manifest.records) == len(tiny.plan.videos) and not tiny.manifest.errors
    for r, v in zip(tiny.manifest.records, tiny.plan.videos, strict=True):
        frames = decode(tiny.out / r.uri)
        assert len(frames) == v.n_frames
        assert frames[0].shape == (256, 144, 3)
        with av.open(str(tiny.out / r.uri)) as c:
            s = c.streams.video[0]
            assert abs(float(s.duration * s.time_base) - len(frames) / FPS) <= 1.01 / FPS
        assert r.clips[0].start_s == 0.0 and r.clips[-1].end_s * FPS == pytest.approx(len(frames))
        for clip, shot, nxt in zip(r.clips, v.shots, (*r.clips[1:], None), strict=True):
            a, b = clip.start_s * FPS, clip.end_s * FPS
            assert a == pytest.approx(round(a), abs=1e-9) and b - a == pytest.approx(shot.n_frames, abs=1e-9)
            if nxt is not None:
                assert nxt.start_s == clip.end_s
        for clip in r.clips[1:]:  # the cut is where the manifest says: the biggest change around it
            f = round(clip.start_s * FPS)
            cut = _diff(frames[f - 1], frames[f])
            assert cut > _diff(frames[f - 2], frames[f - 1]) and cut > _diff(frames[f], frames[f + 1]), (r.uri, f)


def test_videos_split_once_and_unique(tiny: Tiny) -> None:
    records = tiny.manifest.records
    assert {r.split for r in records} == set(SPLITS)
    assert len({r.uri for r in records}) == len(records)
    digests = {hashlib.sha256((tiny.out / r.uri).read_bytes()).hexdigest() for r in records}
    assert len(digests) == len(records)
    refs = [c.reference for r in records for c in r.clips]
    assert len(set(refs)) == len(refs)
    assert all(r.asr and r.industry and r.sub_industry for r in records)


def test_resume_renders_only_the_missing_video(tiny: Tiny, tmp_path: Path) -> None:
    out = tmp_path / "cat"
    shutil.copytree(tiny.out, out)
    victim = out / tiny.manifest.records[1].uri
    before = decode(victim)
    victim.unlink()
    others = {p: p.stat().st_mtime_ns for p in (out / "videos").glob("*.mp4")}
    res = generate_catalog(out, n_clips=TINY_CLIPS, seed=TINY_SEED, workers=1, manifest_name="manifest.parquet")
    assert res.n_rendered == 1
    assert all(p.stat().st_mtime_ns == t for p, t in others.items())
    after = decode(victim)
    assert all(np.array_equal(x, y) for x, y in zip(before, after, strict=True))
    assert read_manifest(res.manifest_path).records == read_manifest(tiny.result.manifest_path).records


def test_clothing_colour_is_in_the_pixels(tiny: Tiny) -> None:
    """The colour a description gives a person's clothes covers more of the frame than of its bare background."""
    checked = 0
    for r, v in zip(tiny.manifest.records, tiny.plan.videos, strict=True):
        frames = decode(tiny.out / r.uri)
        for k, (clip, shot) in enumerate(zip(r.clips, v.shots, strict=True)):
            if shot.person is None:
                continue
            colour = shot.person.clothing_colour
            assert colour in clip.reference
            rgb = np.array(COLOURS[colour], np.int16)
            bg = np.asarray(draw_background(shot.setting, 144, 256, backdrop=shot.backdrop, seed=(v.seed + k) % 2**31))
            bg_share = (np.abs(bg.astype(np.int16) - rgb).sum(-1) < 60).mean()
            if bg_share > 0.05:  # e.g. a white shirt in a white kitchen: not a fair check
                continue
            a = round(clip.start_s * FPS)
            n = shot.n_frames
            share = max(
                (np.abs(frames[a + i].astype(np.int16) - rgb).sum(-1) < 60).mean() for i in (n // 4, n // 2, 3 * n // 4)
            )
            assert share > bg_share + 0.01, (r.uri, k, colour, share, bg_share)
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize(
    ("kw", "msg"),
    [({"width": 143}, "even"), ({"manifest_name": "m.txt"}, "manifest_name"), ({"workers": 0}, "workers")],
)
def test_invalid_arguments(tmp_path: Path, kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        generate_catalog(tmp_path, n_clips=3, **kw)

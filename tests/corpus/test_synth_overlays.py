"""The on-screen text ground truth (ocr_truth.jsonl) that generate_catalog writes beside the manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corpus.synth.overlays import OCR_TRUTH_NAME, SCREEN_ROLES, draw_hud, hud_state, screen_texts, shot_seed, tag_role
from corpus.synth.plan import _TAGS
from tests.corpus.conftest import Tiny, decode

FPS = 10


def _truth(tiny: Tiny) -> list[dict]:
    path = tiny.result.manifest_path.parent / OCR_TRUTH_NAME
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_row_per_clip_in_manifest_order_with_the_planned_texts(tiny: Tiny) -> None:
    rows = _truth(tiny)
    clips = [(r.uri, k, c) for r in tiny.manifest.records for k, c in enumerate(r.clips)]
    assert [(row["uri"], row["clip"]) for row in rows] == [(uri, k) for uri, k, _ in clips]
    for row, (_, _, c) in zip(rows, clips, strict=True):
        assert (row["start_s"], row["end_s"]) == (c.start_s, c.end_s)
    shots = [s for v in tiny.plan.videos for s in v.shots]
    roles = set()
    for row, shot in zip(rows, shots, strict=True):
        texts = {(t["text"], t["role"]) for t in row["texts"]}
        roles |= {role for _, role in texts}
        if shot.overlay is not None and shot.overlay.brand:
            assert (shot.overlay.brand, "brand") in texts
        if shot.overlay is not None and shot.overlay.tag:
            assert (shot.overlay.tag, tag_role(shot.overlay.tag)) in texts
        assert shot.hud == any(role == "hud" for _, role in texts)
        if shot.overlay is None and not shot.hud and shot.product is None:
            assert texts == set()  # a clip with nothing on screen says so (a read there is a false positive)
    assert roles <= set(SCREEN_ROLES) and {"brand", "hud", "label"} <= roles


def _hud_error(frame: np.ndarray, health: float, score: int) -> float:
    """Mean error between a frame and the HUD drawn with ``score``, over the opaque pixels of its digits."""
    layer = np.asarray(draw_hud(144, 256, health=health, score=score))
    mask = layer[..., 3] > 200
    mask[:, :100] = False  # the score's digits only (right of the coin icon)
    return float(np.abs(frame[mask] - layer[..., :3][mask].astype(np.int16)).mean())


def test_the_hud_score_in_the_truth_is_the_one_in_the_pixels(tiny: Tiny) -> None:
    """The score region of a HUD shot's frame matches the HUD drawn with the truth's score, not with another."""
    checked = 0
    for r, v in zip(tiny.manifest.records, tiny.plan.videos, strict=True):
        frames = None
        for k, (clip, shot) in enumerate(zip(r.clips, v.shots, strict=True)):
            if not shot.hud:
                continue
            frames = frames or decode(tiny.out / r.uri)
            frame = frames[round(clip.start_s * FPS)].astype(np.int16)
            health, score = hud_state(shot_seed(v.seed, k))
            [hud] = [t.text for t in screen_texts(shot, shot_seed(v.seed, k)) if t.role == "hud"]
            assert hud == str(score)
            right, wrong = _hud_error(frame, health, score), _hud_error(frame, health, score + 1100)
            assert right < 25 < wrong, (r.uri, k, right, wrong)
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize(
    ("tag", "role"), [("$9.99", "price"), ("PLAY NOW", "cta"), ("SIGN UP", "cta"), ("SALE", "badge")]
)
def test_tag_roles(tag: str, role: str) -> None:
    assert tag_role(tag) == role


def test_every_planned_tag_has_a_role() -> None:
    assert {tag_role(t) for tags in _TAGS.values() for t in tags} == {"price", "cta", "badge"}

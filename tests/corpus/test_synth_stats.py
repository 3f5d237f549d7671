"""Catalog statistics: hand-checkable figures on a hand-made manifest, and consistency on a rendered catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.manifest import ClipRecord, VideoRecord, write_manifest
from corpus.synth import catalog_stats, format_stats
from tests.corpus.conftest import TINY_CLIPS, Tiny


def _clip(ref: str, gen: str, start: float = 0.0) -> ClipRecord:
    return ClipRecord(start, start + 1.0, reference=ref, general=gen)


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    records = [
        VideoRecord(
            "a.mp4",
            clips=(_clip("a red cup falls", "a cup"), _clip("a blue cup falls", "a cup", 1.0)),
            asr="buy now",
            industry="e-commerce",
            product="cup",
            split="test",
        ),
        VideoRecord(
            "b.mp4",
            clips=(_clip("a red cup falls", "a cup on a table"),),
            asr="buy it now",
            industry="e-commerce",
            product="cup",
            split="test",
        ),
        VideoRecord("c.mp4", clips=(_clip("x y z", "a cup"),), asr="play", industry="games", game="rpg", split="train"),
    ]
    return write_manifest(records, tmp_path / "m.jsonl")


def test_hand_checked_figures(manifest: Path) -> None:
    s = catalog_stats(manifest, split="test")
    assert (s["n_videos"], s["n_clips"]) == (2, 3)
    assert s["unique_description_share"] == pytest.approx(1 / 3)  # only "a blue cup falls" is unique
    assert s["mean_clips_per_general"] == pytest.approx((2 + 2 + 1) / 3)
    assert s["distinct_general"] == 2
    assert s["mean_words_description"] == pytest.approx(4.0)
    assert s["mean_words_general"] == pytest.approx((2 + 2 + 5) / 3) and s["max_words_general"] == 5
    assert (s["vocab_description"], s["vocab_general"], s["vocab_asr"]) == (5, 4, 3)
    assert s["splits"]["test"] == {"videos": 2, "clips": 3} and s["splits"]["train"] == {"videos": 1, "clips": 1}
    assert s["labels"]["industry"] == pytest.approx({"e-commerce": 2 / 3, "games": 1 / 3})
    assert s["labels"]["game"] == pytest.approx({"(none)": 2 / 3, "rpg": 1 / 3})
    table = format_stats(s)
    assert "33.3%" in table and "1.67" in table and "e-commerce" in table


def test_unknown_or_empty_split(manifest: Path) -> None:
    with pytest.raises(ValueError, match="unknown split"):
        catalog_stats(manifest, split="dev")
    with pytest.raises(ValueError, match="no clips"):
        catalog_stats(manifest, split="val")


def test_rendered_catalog_counts(tiny: Tiny) -> None:
    s = catalog_stats(tiny.result.manifest_path, split="train")
    assert sum(v["clips"] for v in s["splits"].values()) == TINY_CLIPS
    assert sum(v["videos"] for v in s["splits"].values()) == tiny.result.n_videos
    assert s["n_clips"] == s["splits"]["train"]["clips"]
    assert s["unique_description_share"] == 1.0
    assert sum(s["labels"]["industry"].values()) == pytest.approx(1.0)

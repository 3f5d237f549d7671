"""Texts of the synthetic catalog: description rules, caption ambiguity, keywords, paraphrases and the voice-over."""

from __future__ import annotations

import itertools
import random
import re
import statistics
from collections import Counter

import pytest

from corpus.synth import build_records, describe_shot, plan_catalog, voiceover
from corpus.synth.phrases import MOVEMENT_WORDS
from corpus.synth.plan import seed_of


@pytest.fixture(scope="module")
def plan():
    return plan_catalog(1000, seed=0)


@pytest.fixture(scope="module")
def records(plan):
    return build_records(plan, 144, 256)


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word.lower())}(?!\w)", text.lower()) is not None


def test_description_and_caption_lengths(records) -> None:
    clips = [c for r in records for c in r.clips]
    words = [len(c.reference.split()) for c in clips]
    assert min(words) >= 30
    assert 30 <= statistics.mean(words) <= 60
    assert sum(w > 60 for w in words) / len(words) < 0.05  # "about 30-60": a few dense shots run a little over
    assert max(len(c.general.split()) for c in clips) <= 12


def test_fine_descriptions_identify_clips_and_general_captions_do_not(records) -> None:
    """The benchmark's premise on the test split: unique descriptions, shared general captions."""
    test = [c for r in records if r.split == "test" for c in r.clips]
    refs = Counter(c.reference for c in test)
    gens = Counter(c.general for c in test)
    assert sum(refs[c.reference] == 1 for c in test) / len(test) >= 0.95
    assert statistics.mean(gens[c.general] for c in test) >= 5


def test_keywords_are_words_of_the_description(records) -> None:
    for r in records:
        for c in r.clips:
            assert len(c.keywords) >= 5, c
            for k in c.keywords:
                assert _has_word(c.reference, k), (k, c.reference)


def test_description_states_the_shot_content(plan) -> None:
    for v in plan.videos[:60]:
        for k, s in enumerate(v.shots):
            t = describe_shot(s, random.Random(seed_of("text", v.seed, k)))
            text = t.reference
            if s.person is not None:
                p = s.person
                for word in (p.noun, p.clothing_colour, p.hair_colour, p.garment):
                    assert _has_word(text, word), (word, text)
            if s.product is not None:
                assert _has_word(text, s.product.category) and _has_word(text, s.product.colour), text
            if s.character is not None:
                assert _has_word(text, s.character.cls) and _has_word(text, "health bar"), text
            if len(s.movements) == 3:  # the order of the movements is spelled out
                assert re.search(r"\bfirst\b", text, re.I) and re.search(r"finally|at the end|lastly", text), text
            if s.overlay is not None and s.overlay.tag:
                assert f"'{s.overlay.tag}'" in text


def test_paraphrases_vary_wording_not_content(plan) -> None:
    shot = next(s for v in plan.videos for s in v.shots if s.person is not None and len(s.movements) >= 2)
    texts = [describe_shot(shot, random.Random(i)) for i in range(12)]
    assert len({t.reference for t in texts}) >= 6
    assert len({t.general for t in texts}) == 1  # the general caption is formulaic
    for t in texts:
        assert _has_word(t.reference, shot.person.clothing_colour)


def test_voiceover_mentions_brand_and_never_movements(plan) -> None:
    mentions = 0
    for v in plan.videos:
        text = voiceover(v, random.Random(seed_of("asr", v.seed)))
        tokens = {w.strip(".,!?'").lower() for w in text.split()}
        assert not tokens & MOVEMENT_WORDS, (tokens & MOVEMENT_WORDS, text)
        mentions += v.brand.lower() in tokens
        if v.industry == "e-commerce":
            assert v.product.category in text or v.brand.capitalize() in text
    assert mentions / len(plan.videos) > 0.5


def test_voiceover_has_asr_noise(plan) -> None:
    """Repeated words, fillers or misheard words appear in many transcripts."""
    noisy = 0
    for v in plan.videos:
        words = voiceover(v, random.Random(seed_of("asr", v.seed))).lower().split()
        repeated = any(a == b for a, b in itertools.pairwise(words))
        filler = any(w.strip(",") in ("uh", "um", "like", "so") for w in words)
        noisy += repeated or filler
    assert noisy / len(plan.videos) > 0.3

"""Best-of-n reranking: candidates, the scorer contract, and the choice generate_captions makes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from captioner import CaptionScorer, generate_candidates, generate_captions
from captioner.rerank import pick_best
from tests.captioner.captioner_helpers import small_captioner

FRAMES = np.random.default_rng(0).integers(0, 256, size=(3, 4, 32, 32, 3), dtype=np.uint8)


def test_pick_best_takes_the_highest_score_and_the_first_on_ties():
    candidates = [["greedy a", "sample a1", "sample a2"], ["greedy b", "sample b1"]]
    assert pick_best(candidates, [np.array([0.1, 0.5, 0.2]), np.array([0.3, 0.3])]) == ["sample a1", "greedy b"]


def test_scorer_output_must_match_the_candidates():
    bad = CaptionScorer(lambda frames, cands: [[0.0] for _ in cands], "one-score-each")
    with pytest.raises(ValueError, match="one-score-each"):
        bad(FRAMES[:1], [["a", "b"]])
    short = CaptionScorer(lambda frames, cands: [], "no-scores")
    with pytest.raises(ValueError, match="no-scores"):
        short(FRAMES[:1], [["a"]])


def test_candidates_lead_with_the_greedy_caption_and_are_reproducible():
    torch.manual_seed(0)
    net = small_captioner()
    greedy = generate_captions(net, FRAMES, samples=0)
    state = torch.random.get_rng_state()
    first = generate_candidates(net, FRAMES, samples=5, seed=7, temperature=1.5)
    assert torch.equal(state, torch.random.get_rng_state()), "sampling leaves the caller's random state alone"
    assert [c[0] for c in first] == greedy
    assert all(len(c) == 6 for c in first)
    assert first == generate_candidates(net, FRAMES, samples=5, seed=7, temperature=1.5)
    other = generate_candidates(net, FRAMES, samples=5, seed=8, temperature=1.5)
    assert [c[1:] for c in other] != [c[1:] for c in first], "an untrained LM at temperature 1.5 samples variety"


def test_generate_captions_keeps_the_candidate_the_scorer_prefers():
    torch.manual_seed(0)
    net = small_captioner()
    with pytest.raises(RuntimeError, match="attach_caption_scorer"):
        generate_captions(net, FRAMES, samples=3)
    seen: list[list[str]] = []

    def longest(frames, candidates):  # a scorer with a visible preference: more words score higher
        assert frames.shape == FRAMES.shape
        seen.extend(candidates)
        return [[len(t.split()) for t in c] for c in candidates]

    net.attach_caption_scorer(CaptionScorer(longest, "longest-text"))
    chosen = generate_captions(net, FRAMES, samples=3, seed=1, temperature=1.5)
    assert seen == generate_candidates(net, FRAMES, samples=3, seed=1, temperature=1.5)
    for text, cands in zip(chosen, seen, strict=True):
        lengths = [len(t.split()) for t in cands]
        assert text == cands[lengths.index(max(lengths))]
    assert generate_captions(net, FRAMES, samples=0) == [c[0] for c in seen]


def test_bad_sampling_arguments_are_refused():
    net = small_captioner()
    with pytest.raises(ValueError, match="samples"):
        generate_candidates(net, FRAMES, samples=-1)
    with pytest.raises(ValueError, match="temperature"):
        generate_candidates(net, FRAMES, samples=2, temperature=0.0)

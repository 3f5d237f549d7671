"""Best-of-n reranking of generated descriptions by a video-text scorer.

The tiny from-scratch describer gets a clip's subject and setting right more often than each of its colours,
garments and props. Its greedy description is one guess; sampled descriptions are others. A scorer that reads the
clip and a text (adsearch attaches the trained retriever: cosine of its video and text embeddings) keeps, per clip,
the candidate that matches the clip best, as BLIP's CapFilt keeps the synthetic captions its image-text matcher
accepts. Candidates are the deterministic (greedy or beam) description plus ``samples`` sampled ones, so reranking
can only replace the greedy text with one the scorer rates higher.

The scorer comes from outside the captioner (``captioner`` never imports ``retrieval``), named by the id of the
model behind it. When that model is also the one that searches, reranking partly fits the descriptions to that
model's preferences: README reports recall with an independently trained retriever as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CaptionScorer", "pick_best"]


@dataclass(frozen=True)
class CaptionScorer:
    """``fn(uint8 frames (B, T, H, W, 3), candidates: B lists of texts) -> B arrays of scores``, and its model's id."""

    fn: Callable[[np.ndarray, list[list[str]]], Sequence[Sequence[float]]]
    model_id: str

    def __call__(self, frames: np.ndarray, candidates: list[list[str]]) -> list[np.ndarray]:
        scores = [np.asarray(s, dtype=np.float64) for s in self.fn(frames, candidates)]
        if len(scores) != len(candidates) or any(s.shape != (len(c),) for s, c in zip(scores, candidates, strict=True)):
            raise ValueError(f"caption scorer {self.model_id} returned scores that do not match the candidates")
        return scores


def pick_best(candidates: list[list[str]], scores: list[np.ndarray]) -> list[str]:
    """Per clip, the highest-scoring candidate (the first one on ties, i.e. the deterministic description)."""
    return [c[int(np.argmax(s))] for c, s in zip(candidates, scores, strict=True)]

"""Batched caption generation through transformers' ``generate``: greedy (deterministic) or beam search, optionally
reranked against sampled alternatives by an attached :class:`~captioner.rerank.CaptionScorer`."""

from __future__ import annotations

import numpy as np
import torch

from .model import Captioner
from .rerank import pick_best

__all__ = ["generate_candidates", "generate_captions"]


def generate_captions(
    model: Captioner,
    frames: np.ndarray | list[np.ndarray],
    *,
    num_beams: int = 1,
    max_new_tokens: int | None = None,
    samples: int | None = None,
    temperature: float | None = None,
    seed: int = 0,
) -> list[str]:
    """Describe clips from their frames.

    Args:
        model: A fine or general captioner.
        frames: uint8 (B, T, H, W, 3), or a list of (T, H, W, 3) arrays (as :func:`captioner.load_frames` gives).
        num_beams: 1 for greedy decoding, more for beam search.
        max_new_tokens: Length cap (the config's ``max_new_tokens`` by default).
        samples: Sampled alternatives per clip, reranked with the greedy/beam caption by the model's attached
            caption scorer (see :mod:`captioner.rerank`); 0 turns reranking off. Default: the config's
            ``rerank_samples``.
        temperature: Sampling temperature (default: the config's ``sample_temperature``).
        seed: Seed of the sampling; the same batch, seed and model give the same captions.

    Returns:
        One caption per clip, in order.

    Raises:
        ValueError: ``num_beams`` < 1, ``samples`` < 0 or ``temperature`` <= 0.
        RuntimeError: Reranking is asked for and no caption scorer is attached.
    """
    samples = model.config.rerank_samples if samples is None else samples
    if samples and model.caption_scorer is None:
        raise RuntimeError(
            f"captioner {model.model_id} reranks {samples} sampled descriptions per clip: attach_caption_scorer() "
            "first (adsearch attaches the retriever), or pass samples=0"
        )
    batch = _batch(frames)
    candidates = generate_candidates(
        model,
        batch,
        samples=samples,
        num_beams=num_beams,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
    )
    if not samples:
        return [c[0] for c in candidates]
    return pick_best(candidates, model.caption_scorer(batch, candidates))


@torch.no_grad()
def generate_candidates(
    model: Captioner,
    frames: np.ndarray | list[np.ndarray],
    *,
    samples: int,
    num_beams: int = 1,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
    seed: int = 0,
) -> list[list[str]]:
    """Per clip, the deterministic (greedy or beam) caption followed by ``samples`` sampled ones (top-k 50 at
    ``temperature``, default the config's ``sample_temperature``); arguments as :func:`generate_captions`."""
    batch = _batch(frames)
    temperature = model.config.sample_temperature if temperature is None else temperature
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    if samples < 0 or temperature <= 0:
        raise ValueError(f"samples must be >= 0 and temperature > 0, got {samples} and {temperature}")
    was_training = model.training
    model.eval()
    try:
        visual = model.prefix_embeds(model.encode_frames(batch), video=model.encode_video(batch))  # (B, P+N, E)
        prompt = torch.tensor([model.bos_id, *model.encode_text(model.config.prompt)], device=visual.device)
        text = model.lm.get_input_embeddings()(prompt)[None].expand(visual.shape[0], -1, -1)
        embeds = torch.cat([visual.to(text.dtype), text], dim=1)
        common = {
            "inputs_embeds": embeds,
            "attention_mask": torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device),
            "max_new_tokens": max_new_tokens or model.config.max_new_tokens,
            "eos_token_id": model.eos_id,
            "pad_token_id": model.pad_id,
        }
        first = _decode(model, model.lm.generate(**common, num_beams=num_beams, do_sample=False))
        sampled: list[str] = []
        if samples:
            with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
                torch.manual_seed(seed)
                out = model.lm.generate(
                    **common, do_sample=True, temperature=temperature, top_k=50, num_return_sequences=samples
                )
            sampled = _decode(model, out)
    finally:
        model.train(was_training)
    return [[c, *sampled[i * samples : (i + 1) * samples]] for i, c in enumerate(first)]


def _batch(frames: np.ndarray | list[np.ndarray]) -> np.ndarray:
    batch = np.stack(frames) if isinstance(frames, list) else np.asarray(frames)
    return batch[None] if batch.ndim == 4 else batch


def _decode(model: Captioner, out: torch.Tensor) -> list[str]:
    captions = []
    for row in out.tolist():
        if model.eos_id in row:
            row = row[: row.index(model.eos_id)]
        captions.append(model.tokenizer.decode(row, skip_special_tokens=True).strip())
    return captions

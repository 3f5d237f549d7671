"""Batched caption generation: greedy (deterministic) or beam search, through transformers' ``generate``."""

from __future__ import annotations

import numpy as np
import torch

from .model import Captioner

__all__ = ["generate_captions"]


@torch.no_grad()
def generate_captions(
    model: Captioner,
    frames: np.ndarray | list[np.ndarray],
    *,
    num_beams: int = 1,
    max_new_tokens: int | None = None,
) -> list[str]:
    """Describe clips from their frames.

    Args:
        model: A fine or general captioner.
        frames: uint8 (B, T, H, W, 3), or a list of (T, H, W, 3) arrays (as :func:`captioner.load_frames` gives).
        num_beams: 1 for greedy decoding, more for beam search.
        max_new_tokens: Length cap (the config's ``max_new_tokens`` by default).

    Returns:
        One caption per clip, in order.
    """
    batch = np.stack(frames) if isinstance(frames, list) else np.asarray(frames)
    if batch.ndim == 4:
        batch = batch[None]
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    was_training = model.training
    model.eval()
    try:
        visual = model.prefix_embeds(model.encode_frames(batch), video=model.encode_video(batch))  # (B, P+N, E)
        prompt = torch.tensor([model.bos_id, *model.encode_text(model.config.prompt)], device=visual.device)
        text = model.lm.get_input_embeddings()(prompt)[None].expand(visual.shape[0], -1, -1)
        embeds = torch.cat([visual.to(text.dtype), text], dim=1)
        out = model.lm.generate(
            inputs_embeds=embeds,
            attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device),
            max_new_tokens=max_new_tokens or model.config.max_new_tokens,
            num_beams=num_beams,
            do_sample=False,
            eos_token_id=model.eos_id,
            pad_token_id=model.pad_id,
        )
    finally:
        model.train(was_training)
    captions = []
    for row in out.tolist():
        if model.eos_id in row:
            row = row[: row.index(model.eos_id)]
        captions.append(model.tokenizer.decode(row, skip_special_tokens=True).strip())
    return captions

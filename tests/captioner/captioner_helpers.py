"""Helpers for the captioner tests: a test-size vision tower and captioner, and small real videos on disk."""

from __future__ import annotations

from pathlib import Path

import torch
from open_clip.transformer import VisionTransformer

from captioner import CaptionItem, VideoEmbedder, create_captioner, get_model_config, vision_state_from_checkpoint
from media import write_video
from tests.retrieval.retrieval_helpers import COLOURS, DIRECTIONS, render_clip

VISION = {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2, "heads": 2, "mlp_ratio": 2.0}
SMALL = {
    "num_frames": 4,
    "gmhra_heads": 2,
    "max_new_tokens": 12,
    "rerank_samples": 0,  # reranking has its own tests (test_captioner_rerank.py)
    "qformer": {"num_queries": 4, "hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
    "lm": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64, "vocab_size": 300},
}


def vision_checkpoint() -> dict[str, torch.Tensor]:
    """A retriever-like checkpoint: an open_clip ViT under ``visual.`` plus video-only and text keys."""
    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=8, width=32, layers=2, heads=2, mlp_ratio=2.0, output_dim=16)
    state = {f"visual.{k}": v for k, v in vit.state_dict().items()}
    state["visual.video_proxy.tokens"] = torch.zeros(4, 32)
    state["visual.temporal_embedding.weight"] = torch.zeros(8, 32)
    state["text.proj"] = torch.zeros(32, 16)
    return state


def colour_embedder(dim: int = 8, model_id: str = "colour-embedder-0") -> VideoEmbedder:
    """A frozen stand-in for the retriever's video tower: the clip's mean RGB through a fixed linear map, L2-normed.

    It is a real embedding of the frames (clips of different colours get different vectors), small enough for
    unit tests; the adsearch tests attach a trained tiny retriever instead.
    """
    weight = torch.randn(3, dim, generator=torch.Generator().manual_seed(sum(map(ord, model_id))))

    def embed(frames) -> torch.Tensor:
        mean_rgb = torch.as_tensor(frames).float().mean(dim=(1, 2, 3)) / 255.0  # (B, 3)
        return torch.nn.functional.normalize((mean_rgb - 0.5) @ weight, dim=-1)

    return VideoEmbedder(embed, model_id, dim)


def small_captioner(name: str = "tiny-fine", texts: list[str] | None = None, **overrides):
    """``name`` shrunk to test size, with the vision tower of :func:`vision_checkpoint` (and, when the config has a
    video prefix, :func:`colour_embedder` as its video embedder)."""
    params = {**SMALL, **overrides}
    if get_model_config(name).video_prefix_tokens and params.get("video_prefix_tokens", 1):
        params.setdefault("video_embedder", colour_embedder())
    if name.endswith("general"):
        params["num_frames"] = 1
        params["vision_layers"] = 1
    texts = texts if texts is not None else [f"a {c} square moves {d}" for c in COLOURS for d in DIRECTIONS]
    return create_captioner(
        name,
        vision_config=VISION,
        vision_state_dict=vision_state_from_checkpoint(vision_checkpoint()),
        tokenizer_texts=texts,
        **params,
    )


def write_clips(root: Path, n_colours: int = 3) -> list[CaptionItem]:
    """One real 12-frame mp4 per (colour, direction) with a reference, a general caption and keywords."""
    items = []
    for c, colour in enumerate(list(COLOURS)[:n_colours]):
        for d, direction in enumerate(DIRECTIONS):
            path = write_video(root / f"{colour}-{direction}.mp4", list(render_clip(colour, direction, 12, 32)), 6.0)
            items.append(
                CaptionItem(
                    clip_id=10 * c + d,
                    path=str(path),
                    start_s=0.0,
                    end_s=2.0,
                    reference=f"a {colour} square moves {direction} across the grey frame",
                    general=f"a {colour} square",
                    keywords=[colour, direction, "square"],
                )
            )
    return items

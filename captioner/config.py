"""Captioner architecture and training-recipe configs: frozen dataclasses built once from the registry's JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CaptionerConfig", "LMConfig", "QFormerConfig", "RecipeConfig", "config_from_dict", "config_to_dict"]


@dataclass(frozen=True)
class QFormerConfig:
    """Size of the Q-Former (transformers' ``Blip2QFormerConfig``) and its learnable queries."""

    num_queries: int = 32  # learnable query tokens cross-attending to the visual sequence Z
    hidden_size: int = 768  # Q-Former width
    layers: int = 12  # transformer layers
    heads: int = 12  # attention heads
    intermediate_size: int = 3072  # MLP width
    cross_attention_frequency: int = 2  # a cross-attention layer every N layers (BLIP-2: 2)
    pretrained: str | None = None  # local BLIP-2 state dict (safetensors) whose qformer.* / query_tokens load


@dataclass(frozen=True)
class LMConfig:
    """The causal LM: a tiny Llama trained from scratch, or a local pretrained model (frozen)."""

    type: str = "tiny_llama"  # "tiny_llama" (from scratch, trained) or "pretrained" (local path, frozen)
    hidden_size: int = 192  # tiny_llama: width
    layers: int = 3  # tiny_llama: decoder layers
    heads: int = 4  # tiny_llama: attention heads
    intermediate_size: int = 512  # tiny_llama: MLP width
    vocab_size: int = 2048  # tiny_llama: BPE vocabulary trained on the catalog texts
    max_positions: int = 256  # tiny_llama: longest sequence (queries + prompt + target)
    path: str | None = None  # pretrained: local directory (or GGUF file's directory)
    gguf_file: str | None = None  # pretrained: GGUF file name inside ``path`` (e.g. SmolLM2-135M-Instruct)


@dataclass(frozen=True)
class RecipeConfig:
    """Default training recipe the glue uses unless overridden (see ``CaptionTrainConfig``)."""

    epochs: int = 6  # passes over the examples
    batch_size: int = 32  # examples per step
    lr: float = 1e-3  # peak learning rate of GMHRA, alignment and LM
    lr_qformer: float = 1e-3  # peak learning rate of the Q-Former and its queries
    warmup_steps: int = 50  # linear warm-up steps before cosine decay


@dataclass(frozen=True)
class CaptionerConfig:
    """One captioner architecture (``kind`` fine = SVAD-VLM, general = BLIP-2-style image captioner)."""

    name: str
    kind: str = "fine"  # "fine" (SVAD-VLM, T frames + GMHRA) or "general" (middle frame, no GMHRA)
    num_frames: int = 8  # frames sampled at equal intervals (general: 1, the middle frame)
    vision_layers: int = 2  # last K ViT blocks whose tokens feed GMHRA (general: the last one only)
    gmhra_heads: int = 4  # heads of GMHRA's cross-attention
    prompt: str = "Describe the video."  # instruction of the description task
    max_new_tokens: int = 96  # generation length cap
    dual_alignment: bool = True  # separate ``aux`` projection for general-caption data
    video_prefix_tokens: int = 0  # LM prefix tokens from the clip's video embedding (0: none; see video_prefix.py)
    video_embedding_dim: int = 0  # size of that embedding; set from the attached embedder when the model is built
    rerank_samples: int = 0  # sampled alternatives per clip reranked with the greedy caption (0: off; rerank.py)
    sample_temperature: float = 0.7  # temperature of those samples
    qformer: QFormerConfig = field(default_factory=QFormerConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)

    def __post_init__(self) -> None:
        if self.kind not in ("fine", "general"):
            raise ValueError(f"captioner kind must be 'fine' or 'general', got {self.kind!r}")
        if self.lm.type not in ("tiny_llama", "pretrained"):
            raise ValueError(f"lm.type must be 'tiny_llama' or 'pretrained', got {self.lm.type!r}")
        if self.lm.type == "pretrained" and not self.lm.path:
            raise ValueError(f"config {self.name!r}: lm.type 'pretrained' needs lm.path (a local model directory)")
        if self.video_prefix_tokens < 0 or self.video_embedding_dim < 0:
            raise ValueError("video_prefix_tokens and video_embedding_dim must be >= 0")
        if self.rerank_samples < 0 or self.sample_temperature <= 0:
            raise ValueError("rerank_samples must be >= 0 and sample_temperature > 0")


def config_from_dict(data: dict[str, Any], *, name: str | None = None) -> CaptionerConfig:
    """Build a config from its JSON form; unknown keys raise ``ValueError`` naming the valid ones."""
    data = dict(data)
    if name is not None:
        data["name"] = name
    parts = {"qformer": QFormerConfig, "lm": LMConfig, "recipe": RecipeConfig}
    for key, cls in parts.items():
        data[key] = _build(cls, data.get(key, {}), key)
    return _build(CaptionerConfig, data, "captioner")


def config_to_dict(config: CaptionerConfig) -> dict[str, Any]:
    """JSON-ready form of ``config`` (inverse of :func:`config_from_dict`)."""
    return dataclasses.asdict(config)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - valid
    if unknown:
        raise ValueError(f"unknown {where} config keys {sorted(unknown)}; valid keys: {sorted(valid)}")
    return cls(**data)

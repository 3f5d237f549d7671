"""The CLIP-ViP video-text retriever: video tower, text tower and the learnable logit scale."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import RetrieverConfig
from .fingerprint import state_dict_digest
from .preprocess import preprocess_frames
from .text_towers import build_text_tower
from .video_encoder import VideoVisionTransformer

__all__ = ["VideoTextRetriever", "VideoTower"]


class _VideoSide:
    """The video half of a retriever: ``preprocess`` and ``encode_video`` over ``self.visual`` and ``self.config``
    (shared by ``VideoTextRetriever`` and ``VideoTower``)."""

    config: RetrieverConfig
    visual: VideoVisionTransformer
    device: torch.device

    @property
    def embed_dim(self) -> int:
        """Size D of the joint embedding."""
        return self.config.embed_dim

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, T, H, W, 3) -> normalised float (B, T, 3, H, W) on the model's device."""
        v = self.config.vision
        return preprocess_frames(frames, mean=v.mean, std=v.std, image_size=v.image_size, device=self.device)

    def encode_video(self, frames: torch.Tensor, *, normalize: bool = True) -> torch.Tensor:
        """Video embeddings (B, D) of normalised frames (B, T, 3, H, W); L2-normalised unless told otherwise.

        Raises:
            ValueError: If ``frames`` is not a float (B, T, 3, H, W) tensor with (H, W) = ``vision.image_hw``.
        """
        h, w = self.config.vision.image_hw
        if not torch.is_floating_point(frames):
            raise ValueError(f"encode_video takes normalised float frames; got {frames.dtype} (use model.preprocess)")
        if frames.ndim != 5 or tuple(frames.shape[2:]) != (3, h, w):
            raise ValueError(f"frames must be (B, T, 3, {h}, {w}), got {tuple(frames.shape)}")
        x = self.visual.forward_video(frames)
        return F.normalize(x, dim=-1) if normalize else x


class VideoTextRetriever(_VideoSide, nn.Module):
    """Maps clips (T frames) and texts into one L2-normalised embedding space.

    Build it with ``retrieval.create_model`` (registry names, overrides, pretrained weights) or
    ``retrieval.load_checkpoint``; the constructor gives random weights.
    """

    def __init__(self, *, config: RetrieverConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = VideoVisionTransformer(
            config=config.vision, output_dim=config.embed_dim, quick_gelu=config.quick_gelu
        )
        self.text = build_text_tower(config.text, embed_dim=config.embed_dim, quick_gelu=config.quick_gelu)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.init_logit_scale)))

    @property
    def model_id(self) -> str:
        """``<config name>-<12 hex digits of the weights' hash>``; recomputed from the current weights."""
        return f"{self.config.name}-{state_dict_digest(self.state_dict())}"

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return self.logit_scale.device

    def encode_text(self, texts: Sequence[str], *, normalize: bool = True) -> torch.Tensor:
        """Text embeddings (B, D); L2-normalised unless told otherwise. Long texts are truncated by the tokenizer.

        Raises:
            ValueError: If ``texts`` is a bare string or empty.
        """
        if isinstance(texts, str) or len(texts) == 0:
            raise ValueError("encode_text takes a non-empty list of strings")
        x = self.text.encode(texts)
        return F.normalize(x, dim=-1) if normalize else x

    def forward(self, frames: torch.Tensor, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(encode_video(frames), encode_text(texts))``."""
        return self.encode_video(frames), self.encode_text(texts)

    def num_parameters(self, *, trainable_only: bool = False) -> int:
        """Number of parameters (only those with ``requires_grad`` if asked)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


class VideoTower(_VideoSide, nn.Module):
    """The video tower of a retriever alone, for embedding clips where no text is encoded (a Ray model actor):
    no text backbone is built or loaded. Build it with ``retrieval.load_video_tower``."""

    def __init__(self, *, config: RetrieverConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = VideoVisionTransformer(
            config=config.vision, output_dim=config.embed_dim, quick_gelu=config.quick_gelu
        )

    @property
    def device(self) -> torch.device:
        """Device of the tower's parameters."""
        return next(self.parameters()).device

"""Frozen per-frame ViT: open_clip's ``VisionTransformer`` returning the tokens of its last K blocks.

Default weights: the trained retriever's vision tower, passed in by the caller as the ``visual.*`` tensors of its
``model.safetensors`` (the captioner never imports ``retrieval``). The retriever-only parameters (video proxies,
temporal embedding) are dropped: here every frame runs alone through the plain ViT, CLS token included; that CLS
token is the retriever's trained video proxy 0 (the retriever's own CLS token is never trained).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU, VisionTransformer
from torch import nn

from modelkit.conv_stem import conv_stem  # the retriever's stem, one definition: its weights load by key

__all__ = ["FrameEncoder", "preprocess_frames", "vision_state_from_checkpoint"]

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
# Retriever-only parameters with no counterpart in a plain per-frame ViT.
_VIDEO_ONLY_PREFIXES = ("video_proxy.", "temporal_embedding.")


def vision_state_from_checkpoint(state_dict: Mapping[str, torch.Tensor], prefix: str = "visual.") -> dict:
    """The plain-ViT tensors of a checkpoint: keys under ``prefix`` with it stripped, video-only keys dropped.

    Args:
        state_dict: A whole checkpoint (e.g. ``safetensors.torch.load_file(".../model.safetensors")``).
        prefix: Key prefix of the vision tower (``"visual."`` for the retriever and open_clip models).

    Raises:
        ValueError: If no key starts with ``prefix``.
    """
    out = {
        k[len(prefix) :]: v
        for k, v in state_dict.items()
        if k.startswith(prefix) and not k[len(prefix) :].startswith(_VIDEO_ONLY_PREFIXES)
    }
    if not out:
        raise ValueError(f"no vision weights under prefix {prefix!r}; pass the prefix the checkpoint uses")
    proxies = state_dict.get(f"{prefix}video_proxy.tokens")
    if proxies is not None:
        # The retriever never trains its CLS token (video proxy 0 takes its place and its position). Put the trained
        # proxy 0 in the CLS slot, so the patch tokens attend to a token the ViT was trained with, not a random one.
        out["class_embedding"] = proxies[0].clone()
    return out


def preprocess_frames(frames: np.ndarray | torch.Tensor, *, vision_config: Mapping, device=None) -> torch.Tensor:
    """uint8 RGB frames (B, T, H, W, 3) -> normalised float32 (B, T, 3, H', W') at the ViT's input size.

    Frames of another size are scaled to cover the input and centre-cropped.
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if x.dtype != torch.uint8 or x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (B, T, H, W, 3), got {x.dtype} {tuple(x.shape)}")
    x = x.to(device) if device is not None else x
    b, t, h, w, _ = x.shape
    x = x.permute(0, 1, 4, 2, 3).flatten(0, 1).float().div_(255.0)  # (B*T, 3, H, W)
    th, tw = image_hw(vision_config)
    if (h, w) != (th, tw):
        scale = max(th / h, tw / w)
        nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        top, left = (nh - th) // 2, (nw - tw) // 2
        x = x[..., top : top + th, left : left + tw]
    mean = torch.tensor(vision_config.get("mean", OPENAI_MEAN), device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(vision_config.get("std", OPENAI_STD), device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).unflatten(0, (b, t))  # (B, T, 3, H', W')


def image_hw(vision_config: Mapping) -> tuple[int, int]:
    """(height, width) of the ViT input from ``image_size`` (an int or ``[h, w]``)."""
    size = vision_config["image_size"]
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


class FrameEncoder(nn.Module):
    """Frozen open_clip ViT run frame by frame; returns the tokens of its last ``num_layers`` blocks.

    Args:
        vision_config: ``image_size`` (int or [h, w]), ``patch_size``, ``width``, ``layers``, ``heads``,
            ``mlp_ratio`` and optionally ``quick_gelu``, ``stem`` ("patch" or "conv"), ``mean``, ``std``,
            ``output_dim``.
        num_layers: K, how many of the last blocks to return.
        state_dict: Plain-ViT weights (see :func:`vision_state_from_checkpoint`); loaded strictly. None leaves the
            random init (tests).
    """

    def __init__(self, *, vision_config: Mapping, num_layers: int, state_dict: Mapping | None = None) -> None:
        super().__init__()
        missing = {"image_size", "patch_size", "width", "layers", "heads"} - set(vision_config)
        if missing:
            raise ValueError(f"vision_config lacks {sorted(missing)}; give the ViT's image_size, patch_size, ...")
        width = int(vision_config["width"])
        output_dim = int(vision_config.get("output_dim", 0) or 0)
        if state_dict is not None and "proj" in state_dict:
            output_dim = int(state_dict["proj"].shape[1])
        # Saved with the captioner, so a checkpoint rebuilds the same ViT without the weights' source.
        self.vision_config = {**vision_config, "output_dim": output_dim or width}
        self.vit = VisionTransformer(
            image_size=image_hw(vision_config),
            patch_size=int(vision_config["patch_size"]),
            width=width,
            layers=int(vision_config["layers"]),
            heads=int(vision_config["heads"]),
            mlp_ratio=float(vision_config.get("mlp_ratio", 4.0)),
            output_dim=output_dim or width,
            act_layer=QuickGELU if vision_config.get("quick_gelu") else nn.GELU,
        )
        stem = vision_config.get("stem", "patch")
        if stem == "conv":
            self.vit.conv1 = conv_stem(width, int(vision_config["patch_size"]))
        elif stem != "patch":
            raise ValueError(f"vision_config stem must be 'patch' or 'conv', got {stem!r}")
        if not 1 <= num_layers <= len(self.vit.transformer.resblocks):
            raise ValueError(f"num_layers must be in 1..{len(self.vit.transformer.resblocks)}, got {num_layers}")
        if state_dict is not None:
            try:
                self.vit.load_state_dict(dict(state_dict), strict=True)
            except RuntimeError as e:
                raise ValueError(f"vision weights do not fit the vision config: {e}") from e
        self.num_layers = num_layers
        self.width = width
        self.grid = tuple(int(g) for g in self.vit.grid_size)  # (gh, gw) patches
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrameEncoder:
        """Always stays in eval mode: the encoder is frozen."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised frames (B, T, 3, H, W) -> tokens of the last K blocks (B, K, T, 1 + gh*gw, D), CLS first."""
        b, t = frames.shape[:2]
        vit = self.vit
        x = vit.conv1(frames.flatten(0, 1))  # (B*T, D, gh, gw)
        x = x.flatten(2).transpose(1, 2)  # (B*T, L, D)
        cls = vit.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + vit.positional_embedding.to(x.dtype)  # (B*T, 1+L, D)
        x = vit.ln_pre(x)
        outs: list[torch.Tensor] = []
        blocks: Sequence[nn.Module] = vit.transformer.resblocks
        first_kept = len(blocks) - self.num_layers
        for i, block in enumerate(blocks):
            x = block(x)
            if i >= first_kept:
                outs.append(x.unflatten(0, (b, t)))  # (B, T, 1+L, D)
        return torch.stack(outs, dim=1)  # (B, K, T, 1+L, D)

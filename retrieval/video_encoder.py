"""Video tower: open_clip's VisionTransformer extended with CLIP-ViP video proxies and temporal embedding.

Design choice on the per-frame CLS token: it is dropped from the video sequence, as in CLIP-ViP. The M proxies take
its role (proxy 0 starts as a copy of it and gets its position embedding), and T extra CLS tokens would only add
tokens that no output reads. The ``class_embedding`` parameter stays in the module so open_clip checkpoints load
strictly and ``forward`` on single images (inherited) still works; in the proxy head it is frozen because no video
output depends on it. The ``meanp`` head (CLIP4Clip) instead runs every frame as an image and averages the
normalised frame embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU, VisionTransformer
from torch import nn

from .config import VisionConfig
from .layers import TemporalEmbedding, VideoProxy, conv_stem, proxy_attention_mask, proxy_guided_transformer

__all__ = ["VideoVisionTransformer"]


class VideoVisionTransformer(VisionTransformer):
    """open_clip ViT whose state-dict keys match open_clip's ``visual.*`` keys, plus the video additions.

    Extra parameters of the proxy head: ``video_proxy.tokens`` (M, D) and ``temporal_embedding.weight`` (S, D).
    """

    def __init__(self, *, config: VisionConfig, output_dim: int, quick_gelu: bool = False) -> None:
        super().__init__(
            image_size=config.image_hw,  # (H, W); open_clip sets grid_size = (H, W) // patch_size
            patch_size=config.patch_size,
            width=config.width,
            layers=config.layers,
            heads=config.heads,
            mlp_ratio=config.mlp_ratio,
            output_dim=output_dim,
            act_layer=QuickGELU if quick_gelu else nn.GELU,
        )
        if config.stem == "conv":
            self.conv1 = conv_stem(config.width, config.patch_size)  # same output grid as the patchify conv
        self.head = config.head
        self._mask_cache: tuple[tuple, torch.Tensor] | None = None
        if self.head == "proxy":
            self.video_proxy = VideoProxy(num_tokens=config.num_proxies, width=config.width)
            self.video_proxy.init_from_(self.class_embedding.detach())
            self.temporal_embedding = TemporalEmbedding(num_slots=config.temporal_size, width=config.width)
            self.class_embedding.requires_grad_(False)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Parameter names exempt from weight decay (embeddings and tokens)."""
        names = set(super().no_weight_decay())
        if self.head == "proxy":
            names |= {"video_proxy.tokens", "temporal_embedding.weight"}
        return names

    def video_tokens(self, frames: torch.Tensor, *, with_mask: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Input sequence of the proxy head and its attention mask.

        Args:
            frames: Normalised frames (B, T, 3, H, W).
            with_mask: Also build the additive mask (``None`` in its place otherwise).

        Returns:
            ``(x, mask)``: tokens (B, M + T * L, D) after ``ln_pre``, and the additive mask (S, S).
        """
        assert self.head == "proxy", "video_tokens is only defined for the proxy head"
        b, t = frames.shape[:2]
        x = self.conv1(frames.flatten(0, 1))  # (B*T, D, gh, gw)
        x = x.flatten(2).transpose(1, 2)  # (B*T, L, D), L = gh * gw patches in row-major order
        n_tok, width = x.shape[1:]
        pos = self.positional_embedding.to(x.dtype)  # (1 + L, D); row 0 is the CLS position
        x = x + pos[1:]  # spatial position embedding, (B*T, L, D)
        x = x.reshape(b, t, n_tok, width) + self.temporal_embedding(t).to(x.dtype)[None, :, None, :]  # (B, T, L, D)
        x = x.reshape(b, t * n_tok, width)  # (B, T*L, D)
        proxies = self.video_proxy(b, pos[0]).to(x.dtype)  # (B, M, D)
        x = torch.cat([proxies, x], dim=1)  # (B, M + T*L, D)
        x = self.ln_pre(x)
        return x, self._attention_mask(t, n_tok, x.device, x.dtype) if with_mask else None

    def forward_tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """Output tokens (B, M + T * L, D) of the proxy head's transformer, before ``ln_post``.

        Runs the batched form of proxy-guided attention (``layers.proxy_guided_transformer``); it equals running
        ``self.transformer`` with the mask of ``video_tokens`` and skips the masked-out score computations.
        """
        x, _ = self.video_tokens(frames, with_mask=False)
        return proxy_guided_transformer(self.transformer, x, self.video_proxy.num_tokens, frames.shape[1])

    def forward_video(self, frames: torch.Tensor) -> torch.Tensor:
        """Video embedding before L2 normalisation.

        Args:
            frames: Normalised frames (B, T, 3, H, W).

        Returns:
            (B, output_dim): proxy 0 -> ln_post -> proj for the proxy head; mean of the L2-normalised frame
            embeddings for the meanp head.
        """
        if self.head == "meanp":
            b, t = frames.shape[:2]
            per_frame = super().forward(frames.flatten(0, 1))  # (B*T, E)
            per_frame = F.normalize(per_frame, dim=-1).reshape(b, t, -1)  # (B, T, E)
            return per_frame.mean(dim=1)
        x = self.forward_tokens(frames)  # (B, S, D)
        pooled = self.ln_post(x[:, 0])  # proxy 0, (B, D)
        return pooled @ self.proj

    def _attention_mask(self, num_frames: int, n_tok: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        # Rebuilt only when the frame count, device or dtype changes; at B/16 x 12 frames it is 2356^2 floats.
        # A mask made under inference_mode cannot enter an autograd graph later, hence the mode in the key.
        key = (self.video_proxy.num_tokens, num_frames, n_tok, device, dtype, torch.is_inference_mode_enabled())
        if self._mask_cache is None or self._mask_cache[0] != key:
            mask = proxy_attention_mask(self.video_proxy.num_tokens, num_frames, n_tok, device=device, dtype=dtype)
            self._mask_cache = (key, mask)
        return self._mask_cache[1]

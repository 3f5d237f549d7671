"""Proxy-guided attention mask of CLIP-ViP over the token sequence ``[M proxies | T x L patches]``."""

from __future__ import annotations

import torch

__all__ = ["proxy_attention_allowed", "proxy_attention_mask"]


def proxy_attention_allowed(
    num_proxies: int, num_frames: int, tokens_per_frame: int, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Which query token may attend to which key token.

    The sequence is ``[M proxies | frame 0 patches | frame 1 patches | ...]``. A patch token of frame t attends to
    the M proxies and to the patches of frame t only; a proxy attends to every token. Information therefore moves
    between frames only through the proxies.

    Args:
        num_proxies: M, the number of video proxy tokens at the start of the sequence.
        num_frames: T, the number of frames.
        tokens_per_frame: L, the number of patch tokens per frame.
        device: Device of the returned tensor.

    Returns:
        Bool tensor (S, S), S = M + T * L, ``[query, key]``, True where attention is allowed.
    """
    if num_proxies < 1 or num_frames < 1 or tokens_per_frame < 1:
        raise ValueError(
            f"need num_proxies, num_frames, tokens_per_frame >= 1, got {num_proxies}, {num_frames}, {tokens_per_frame}"
        )
    # Frame index of every token; proxies get -1.
    frame = torch.arange(num_frames, device=device).repeat_interleave(tokens_per_frame)  # (T * L,)
    frame = torch.cat([torch.full((num_proxies,), -1, device=device), frame])  # (S,)
    is_proxy = frame < 0
    same_frame = frame[:, None] == frame[None, :]  # (S, S)
    return same_frame | is_proxy[:, None] | is_proxy[None, :]


def proxy_attention_mask(
    num_proxies: int,
    num_frames: int,
    tokens_per_frame: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Additive float form of ``proxy_attention_allowed``: 0 where allowed, -inf where blocked.

    Float, not bool, because open_clip's ``ResidualAttentionBlock`` casts the mask to the activations' dtype before
    ``nn.MultiheadAttention``; a bool mask would become a 0/1 bias there and block nothing. No row is fully blocked
    (every token sees the proxies), so -inf never produces NaN.

    Returns:
        Tensor (S, S) of ``dtype``, to pass as ``attn_mask`` to open_clip's ``Transformer`` (batch-first).
    """
    allowed = proxy_attention_allowed(num_proxies, num_frames, tokens_per_frame, device=device)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return mask.masked_fill_(~allowed, float("-inf"))

"""CLIP-ViP building blocks that depend on torch only.

Video proxies, the temporal embedding, and proxy-guided attention (as a mask and in batched form).
"""

from modelkit.conv_stem import conv_stem  # shared with the captioner's frame encoder (one definition)

from .attention_mask import proxy_attention_allowed, proxy_attention_mask
from .proxy_attention import proxy_guided_block, proxy_guided_transformer
from .temporal_embedding import TemporalEmbedding, interpolate_temporal
from .video_proxy import VideoProxy

__all__ = [
    "TemporalEmbedding",
    "VideoProxy",
    "conv_stem",
    "interpolate_temporal",
    "proxy_attention_allowed",
    "proxy_attention_mask",
    "proxy_guided_block",
    "proxy_guided_transformer",
]

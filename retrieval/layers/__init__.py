"""CLIP-ViP building blocks that depend on torch only: video proxies, temporal embedding, proxy-guided mask."""

from .attention_mask import proxy_attention_allowed, proxy_attention_mask
from .temporal_embedding import TemporalEmbedding, interpolate_temporal
from .video_proxy import VideoProxy

__all__ = [
    "TemporalEmbedding",
    "VideoProxy",
    "interpolate_temporal",
    "proxy_attention_allowed",
    "proxy_attention_mask",
]

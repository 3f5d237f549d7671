"""Q-Former: transformers' ``Blip2QFormerModel`` with learnable queries cross-attending to the visual sequence."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel

from .config import QFormerConfig

__all__ = ["QFormer", "load_blip2_qformer"]

logger = logging.getLogger(__name__)


class QFormer(nn.Module):
    """Learnable queries (1, N, H) and a BLIP-2 Q-Former over encoder tokens of width ``encoder_width``."""

    def __init__(self, *, config: QFormerConfig, encoder_width: int) -> None:
        super().__init__()
        self.config = config
        hf = Blip2QFormerConfig(
            hidden_size=config.hidden_size,
            num_hidden_layers=config.layers,
            num_attention_heads=config.heads,
            intermediate_size=config.intermediate_size,
            cross_attention_frequency=config.cross_attention_frequency,
            encoder_hidden_size=encoder_width,
        )
        self.qformer = Blip2QFormerModel(hf)
        self.query_tokens = nn.Parameter(torch.randn(1, config.num_queries, config.hidden_size) * 0.02)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Visual sequence (B, S, D) -> query outputs (B, N, H)."""
        queries = self.query_tokens.expand(z.shape[0], -1, -1)
        return self.qformer(query_embeds=queries, encoder_hidden_states=z).last_hidden_state


def load_blip2_qformer(module: QFormer, state_dict: Mapping[str, torch.Tensor]) -> dict[str, list[str]]:
    """Load the ``qformer.*`` and ``query_tokens`` tensors of a BLIP-2 state dict into ``module``.

    Shapes must match (a Q-Former config of the checkpoint's size). Keys outside those two groups are ignored.

    Returns:
        ``{"missing": [...], "unexpected": [...]}``: Q-Former keys the checkpoint lacked, and checkpoint keys under
        ``qformer.`` that the module has no place for.

    Raises:
        ValueError: If the checkpoint has no ``qformer.`` keys, or a tensor's shape differs.
    """
    own = module.state_dict()
    picked = {k: v for k, v in state_dict.items() if k.startswith("qformer.") or k == "query_tokens"}
    if not any(k.startswith("qformer.") for k in picked):
        raise ValueError("the state dict holds no 'qformer.*' keys; pass a BLIP-2 checkpoint's state dict")
    unexpected = sorted(k for k in picked if k not in own)
    loadable = {k: v for k, v in picked.items() if k in own}
    for k, v in loadable.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"{k}: checkpoint shape {tuple(v.shape)} != model shape {tuple(own[k].shape)}")
    result = module.load_state_dict(loadable, strict=False)
    report = {"missing": sorted(result.missing_keys), "unexpected": unexpected}
    logger.info(
        "BLIP-2 Q-Former load: %d tensors, %d missing, %d unexpected",
        len(loadable),
        len(report["missing"]),
        len(unexpected),
    )
    return report

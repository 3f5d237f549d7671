"""AdamW with CLIP's weight-decay exemptions, and a linear warm-up + cosine decay learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["WarmupCosine", "build_optimizer", "param_groups"]

# Substrings of parameter names exempt from weight decay besides every 1-D tensor (norm weights, biases, scales).
_NO_DECAY_NAMES = ("embedding", "video_proxy", "logit_scale", "class_embedding")


def param_groups(model: nn.Module, *, weight_decay: float, lr_ratios: Mapping[str, float] | None = None) -> list[dict]:
    """Trainable parameters split into a decayed group and an exempt one, per learning-rate ratio.

    Exempt: norms, biases and other 1-D tensors, embeddings (patch positions, temporal, token), the video proxies
    and the logit scale, as in CLIP: decaying them pulls tokens and the temperature toward zero for no benefit.

    Args:
        model: The model.
        weight_decay: Decay of the decayed groups.
        lr_ratios: Parameter-name prefix -> multiplier of the base learning rate (e.g. ``{"text.backbone.": 0.1}``
            for a pretrained backbone fine-tuned more gently); the first matching prefix wins, others get 1.0.
            Each group carries its multiplier as ``lr_ratio``.
    """
    ratios = dict(lr_ratios or {})
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        ratio = next((r for prefix, r in ratios.items() if name.startswith(prefix)), 1.0)
        exempt = p.ndim < 2 or any(s in name for s in _NO_DECAY_NAMES)
        groups.setdefault((ratio, exempt), []).append(p)
    return [
        {"params": params, "weight_decay": 0.0 if exempt else weight_decay, "lr_ratio": ratio}
        for (ratio, exempt), params in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1]))
    ]


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.98),
    eps: float = 1e-6,
    lr_ratios: Mapping[str, float] | None = None,
) -> torch.optim.AdamW:
    """AdamW over ``param_groups(model)``, each group at ``lr * lr_ratio``; ``fused`` on CUDA where available."""
    groups = param_groups(model, weight_decay=weight_decay, lr_ratios=lr_ratios)
    for g in groups:
        g["lr"] = lr * g["lr_ratio"]
    on_cuda = any(p.is_cuda for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=on_cuda or None)


class WarmupCosine:
    """LR multiplier: linear warm-up from ~0 to 1 over ``warmup_steps``, then cosine decay to ``min_ratio``.

    A callable object rather than a closure so that ``LambdaLR.state_dict()`` records its settings.
    """

    def __init__(self, *, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> None:
        if total_steps < 1 or warmup_steps < 0:
            raise ValueError(f"need total_steps >= 1 and warmup_steps >= 0, got {total_steps}, {warmup_steps}")
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        """Multiplier of the base LR at optimiser step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

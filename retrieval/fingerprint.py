"""Content hash of a state dict, used to derive a model's ``model_id``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

__all__ = ["state_dict_digest"]


def state_dict_digest(state_dict: Mapping[str, torch.Tensor], *, length: int = 12) -> str:
    """Hex digest over names, dtypes, shapes and bytes of every tensor, in sorted key order.

    Identical weights give identical digests on any device; any change of a value, shape or dtype changes it.
    """
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(state_dict):
        t = state_dict[name].detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # Byte view so that dtypes numpy cannot represent (bfloat16) hash too.
        h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:length]

"""Shipped pretrained tags on disk, shared by both model packages: ``<root>/<config>-<tag>/`` folders holding
``model.safetensors`` and a ``config.json`` that names the config and the tag."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["list_tags"]


def list_tags(root: Path, name_of: Callable[[dict[str, Any]], str]) -> list[tuple[str, str]]:
    """``(config name, tag)`` of every complete tag folder under ``root``, sorted; ``name_of`` reads the config
    name from a folder's ``config.json``."""
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        meta = d / "config.json"
        if (d / "model.safetensors").is_file() and meta.is_file():
            data = json.loads(meta.read_text(encoding="utf-8"))
            out.append((name_of(data), data["tag"]))
    return out

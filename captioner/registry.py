"""Registry of the captioner architectures shipped as JSON files in ``captioner/model_configs/``."""

from __future__ import annotations

import json
from importlib import resources

from .config import CaptionerConfig, config_from_dict

__all__ = ["get_model_config", "list_models"]

_CONFIG_DIR = "model_configs"


def list_models() -> list[str]:
    """Names of the registered captioner configs, sorted (``["blip2-paper", "svad-paper", "tiny-fine", ...]``)."""
    root = resources.files("captioner").joinpath(_CONFIG_DIR)
    return sorted(p.name[: -len(".json")] for p in root.iterdir() if p.name.endswith(".json"))


def get_model_config(name: str) -> CaptionerConfig:
    """The config registered under ``name``.

    Raises:
        ValueError: If ``name`` is not registered (the message lists the registered names).
    """
    names = list_models()
    if name not in names:
        raise ValueError(f"unknown captioner config {name!r}; registered configs: {names}")
    text = resources.files("captioner").joinpath(_CONFIG_DIR, f"{name}.json").read_text(encoding="utf-8")
    return config_from_dict(json.loads(text), name=name)

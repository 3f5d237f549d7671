"""Registry of the retriever architectures shipped as JSON files in ``retrieval/model_configs/``."""

from __future__ import annotations

import json
from importlib import resources

from .config import RetrieverConfig, config_from_dict

__all__ = ["get_model_config", "list_models"]

_CONFIG_DIR = "model_configs"  # inside the retrieval package; shipped as package data


def list_models() -> list[str]:
    """Names of the registered configs, sorted (e.g. ``["clipvip-b16", "clipvip-b32", "tiny", "tiny-meanp", ...]``)."""
    root = resources.files("retrieval").joinpath(_CONFIG_DIR)
    return sorted(p.name[: -len(".json")] for p in root.iterdir() if p.name.endswith(".json"))


def get_model_config(name: str) -> RetrieverConfig:
    """The frozen config registered under ``name``.

    The files are read on every call (they are tiny) so the module keeps no state.

    Raises:
        ValueError: If ``name`` is not registered; the message lists the registered names.
    """
    names = list_models()
    if name not in names:
        raise ValueError(f"unknown retriever config {name!r}; registered configs: {names}")
    text = resources.files("retrieval").joinpath(_CONFIG_DIR, f"{name}.json").read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"config file {name}.json is not valid JSON: {e}") from e
    return config_from_dict(data, name=name)

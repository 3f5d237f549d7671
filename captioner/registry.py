"""Registry of the captioner architectures: the JSON files shipped in ``captioner/model_configs/`` plus a user's own
(``add_model_config``), through the shared ``modelkit.registry.ConfigRegistry`` (the retriever's registry uses the
same mechanism). A file is a ``CaptionerConfig`` as JSON; its ``"recipe"`` section is part of the config here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from modelkit.registry import ConfigRegistry

from .config import CaptionerConfig, config_from_dict

__all__ = [
    "DEFAULT_CONFIGS",
    "add_model_config",
    "get_model_config",
    "get_recipe",
    "list_models",
    "remove_model_config",
]

DEFAULT_CONFIGS = {"fine": "tiny-fine", "general": "tiny-general"}  # what `adsearch train-captioner --kind` trains

_REGISTRY = ConfigRegistry("captioner", kind="captioner", validate=lambda data, name: config_from_dict(data, name=name))


def list_models() -> list[str]:
    """Names of the registered captioner configs, sorted (``["blip2-paper", "svad-paper", "tiny-fine", ...]``)."""
    return _REGISTRY.list_models()


def get_model_config(name: str) -> CaptionerConfig:
    """The config registered under ``name``.

    Raises:
        ValueError: If ``name`` is not registered (the message lists the registered names), or its file is not a
            valid config.
    """
    try:
        return config_from_dict(_REGISTRY.get(name), name=name)
    except (TypeError, ValueError) as e:
        if name not in _REGISTRY.list_models():
            raise
        raise ValueError(f"captioner config {_REGISTRY.source(name)} is not valid: {e}") from e


def get_recipe(name: str) -> dict[str, Any]:
    """The training recipe of config ``name`` (its ``recipe`` section with the defaults of ``RecipeConfig``)."""
    return dataclasses.asdict(get_model_config(name).recipe)


def add_model_config(path_or_dir: str | Path) -> list[str]:
    """Register a user's captioner config (a ``*.json`` file, or a folder of them) under the file's stem, as
    open_clip's ``add_model_config``; ``create_captioner(stem, ...)`` then builds it. Returns the names added.

    Raises:
        FileNotFoundError: No such file, or no ``*.json`` in the folder.
        ValueError: Not valid JSON or not a valid ``CaptionerConfig`` (the file is named), or the name is taken.
    """
    return _REGISTRY.add_model_config(path_or_dir)


def remove_model_config(path_or_dir: str | Path) -> list[str]:
    """Unregister what ``add_model_config(path_or_dir)`` registered; returns the names removed."""
    return _REGISTRY.remove_model_config(path_or_dir)

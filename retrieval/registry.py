"""Registry of the retriever architectures: the JSON files shipped in ``retrieval/model_configs/`` plus a user's own
(``add_model_config``), through the shared ``modelkit.registry.ConfigRegistry``.

A config file is a ``RetrieverConfig`` as JSON with an optional ``"recipe"`` section (``RecipeConfig``: the training
recipe it was tuned with, read by ``get_recipe``). Files are read on every call; the registry remembers only the
paths a user added.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from modelkit.registry import RECIPE_KEY, ConfigRegistry

from .config import RetrieverConfig, config_from_dict, recipe_from_dict

__all__ = [
    "DEFAULT_CONFIG",
    "add_model_config",
    "get_model_config",
    "get_recipe",
    "list_models",
    "remove_model_config",
]

DEFAULT_CONFIG = "tiny"  # the architecture `adsearch train-retriever` trains and `adsearch demo` installs


def _build(data: dict[str, Any], name: str) -> RetrieverConfig:
    recipe_from_dict(data.get(RECIPE_KEY) or {})  # checked with the architecture, so a bad recipe fails early
    return config_from_dict({k: v for k, v in data.items() if k != RECIPE_KEY}, name=name)


_REGISTRY = ConfigRegistry("retrieval", kind="retriever", validate=_build)


def list_models() -> list[str]:
    """Names of the registered configs, sorted (e.g. ``["clipvip-b16", "clipvip-b32", "tiny", "tiny-meanp", ...]``)."""
    return _REGISTRY.list_models()


def get_model_config(name: str) -> RetrieverConfig:
    """The frozen config registered under ``name`` (its recipe left out: see ``get_recipe``).

    Raises:
        ValueError: If ``name`` is not registered (the message lists the registered names), or its file is not a
            valid config.
    """
    try:
        return _build(_REGISTRY.get(name), name)
    except ValueError as e:
        if name not in _REGISTRY.list_models():
            raise
        raise ValueError(f"retriever config {_REGISTRY.source(name)} is not valid: {e}") from e


def get_recipe(name: str) -> dict[str, Any]:
    """The training recipe of config ``name``: the ``TrainConfig`` fields its ``"recipe"`` section sets (``{}`` when
    it has none), e.g. ``{"lr": 5e-4, "epochs": 24, "amp_cpu": True}`` for ``tiny``.

    Raises:
        ValueError: ``name`` is not registered, or its recipe has unknown or invalid fields.
    """
    recipe = recipe_from_dict(_REGISTRY.recipe(name))
    return {k: v for k, v in dataclasses.asdict(recipe).items() if v is not None}


def add_model_config(path_or_dir: str | Path) -> list[str]:
    """Register a user's retriever config (a ``*.json`` file, or a folder of them) under the file's stem, as
    open_clip's ``add_model_config``; ``create_model(stem)`` then builds it. Returns the names added.

    Raises:
        FileNotFoundError: No such file, or no ``*.json`` in the folder.
        ValueError: Not valid JSON or not a valid ``RetrieverConfig`` (the file is named), or the name is taken.
    """
    return _REGISTRY.add_model_config(path_or_dir)


def remove_model_config(path_or_dir: str | Path) -> list[str]:
    """Unregister what ``add_model_config(path_or_dir)`` registered; returns the names removed."""
    return _REGISTRY.remove_model_config(path_or_dir)

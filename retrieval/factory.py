"""``create_model``: a registry name or config, plus overrides, to a retriever with its pretrained weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .config import RetrieverConfig, config_from_dict, config_to_dict
from .model import VideoTextRetriever
from .pretrained import load_pretrained
from .pretrained_tags import is_pretrained_tag, load_tag_weights, tag_dir
from .registry import get_model_config

__all__ = ["apply_overrides", "create_model"]


def apply_overrides(config: RetrieverConfig, **overrides: Any) -> RetrieverConfig:
    """``dataclasses.replace`` with nested merging: ``vision={"layers": 2}`` changes only that field.

    Raises:
        ValueError: On unknown fields (the message lists the valid ones) or invalid values.
    """
    if not overrides:
        return config
    valid = {f.name for f in dataclasses.fields(RetrieverConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(f"unknown config override(s) {unknown}; valid fields: {sorted(valid)}")
    data = config_to_dict(config)
    for key, value in overrides.items():
        if key in ("vision", "text") and isinstance(value, Mapping):
            data[key] = {**data[key], **value}
        elif dataclasses.is_dataclass(value):
            data[key] = dataclasses.asdict(value)
        else:
            data[key] = value
    return config_from_dict(data)


def create_model(name_or_config: str | RetrieverConfig, **overrides: Any) -> VideoTextRetriever:
    """Build a retriever and load its ``pretrained`` weights, if the (overridden) config names any.

    Args:
        name_or_config: A name from ``list_models()`` or a ``RetrieverConfig``.
        **overrides: Config fields to replace, e.g. ``pretrained="synth-v1"`` (a tag shipped with the package,
            see ``list_pretrained()``; the built config then records ``pretrained=None``, so a checkpoint of the
            model reloads without it), ``pretrained=None``, ``embed_dim=128``,
            ``vision={"num_frames": 8}`` (nested dicts are merged into the nested config).

    Returns:
        The model on CPU, in training mode.

    Raises:
        ValueError: Unknown name or override.
        FileNotFoundError: The pretrained weights are not available.
    """
    config = get_model_config(name_or_config) if isinstance(name_or_config, str) else name_or_config
    config = apply_overrides(config, **overrides)
    if is_pretrained_tag(config.name, config.pretrained):  # weights shipped in the package (``list_pretrained()``)
        folder = tag_dir(config.name, config.pretrained)
        return load_tag_weights(
            config.name, folder, VideoTextRetriever(config=apply_overrides(config, pretrained=None))
        )
    model = VideoTextRetriever(config=config)
    if config.pretrained:
        load_pretrained(model, config.pretrained)
    return model

"""Retriever checkpoints as a directory of ``config.json`` + ``model.safetensors`` (no pickle)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .config import config_from_dict, config_to_dict

if TYPE_CHECKING:  # torch is imported by the functions that need it: read_checkpoint_meta stays light
    import torch

    from .model import VideoTextRetriever

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "load_checkpoint", "read_checkpoint_meta", "save_checkpoint"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_FORMAT = "adsearch-retriever"
_VERSION = 1


def save_checkpoint(model: VideoTextRetriever, directory: str | Path) -> str:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed).

    Each file is written under a temporary name and renamed, so a killed save never leaves a torn file. The whole
    state dict is stored, a frozen text backbone included, so the checkpoint loads without the original packages'
    weights and reproduces the same embeddings.

    Returns:
        The ``model_id`` (config name + hash of the saved weights), also recorded in config.json.
    """
    from safetensors.torch import save_file

    from .fingerprint import state_dict_digest

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Clone: safetensors refuses tensors that share storage, and needs them contiguous.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    model_id = f"{model.config.name}-{state_dict_digest(state)}"
    meta = {"format": _FORMAT, "version": _VERSION, "model_id": model_id, "config": config_to_dict(model.config)}
    _atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(state, str(p), metadata={"model_id": model_id}))
    _atomic_write(directory / CONFIG_NAME, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    logger.info("saved retriever %s to %s", model_id, directory)
    return model_id


def read_checkpoint_meta(directory: str | Path) -> dict:
    """The parsed ``config.json`` of a checkpoint directory (keys: format, version, model_id, config).

    Raises:
        FileNotFoundError: No config.json there.
        ValueError: It is not a retriever checkpoint.
    """
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a retriever checkpoint holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON") from e
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a retriever checkpoint (format {_FORMAT!r} expected)")
    if meta.get("version") != _VERSION:
        raise ValueError(f"{path}: unsupported checkpoint version {meta.get('version')!r}, expected {_VERSION}")
    return meta


def load_checkpoint(directory: str | Path, *, map_location: str | torch.device = "cpu") -> VideoTextRetriever:
    """Rebuild a retriever from a checkpoint directory written by ``save_checkpoint``.

    The model is built from the saved config (its ``pretrained`` source is not fetched again), loaded strictly
    and checked against the recorded ``model_id``.

    Raises:
        FileNotFoundError: Missing files.
        ValueError: Not a retriever checkpoint, keys do not match, or the weights' hash differs from model_id.
    """
    from safetensors.torch import load_file

    from .fingerprint import state_dict_digest
    from .model import VideoTextRetriever

    directory = Path(directory)
    meta = read_checkpoint_meta(directory)
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} not found")
    config = config_from_dict(meta["config"])
    state = load_file(str(weights), device="cpu")
    model_id = f"{config.name}-{state_dict_digest(state)}"
    if model_id != meta.get("model_id"):
        raise ValueError(
            f"{weights} does not match {CONFIG_NAME}: the weights hash to {model_id}, it records {meta.get('model_id')}"
        )
    model = VideoTextRetriever(config=config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"weights in {weights} do not fit the config in {CONFIG_NAME}: {e}") from e
    return model.to(map_location)


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)

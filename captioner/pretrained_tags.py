"""Pretrained captioner tags: weights that ship inside the package, as the retriever's (``retrieval.pretrained_tags``).

``captioner/pretrained_weights/<config>-<tag>/`` holds ``model.safetensors`` (the trained parameters in half
precision, without the frozen ViT: that is the retriever tag's vision tower, which the caller passes in),
``tokenizer.json``, ``config.json`` (the checkpoint metadata of :func:`captioner.save_captioner` plus the tag, the
recipe, timings and metrics) and ``MODEL_CARD.md``. :func:`load_tag_weights` rebuilds the captioner from them and
checks that it has the model id recorded in ``config.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file

from modelkit.tags import list_tags

from .checkpoint import build_captioner, weights_id
from .config import config_from_dict
from .model import Captioner
from .tokenizer import load_tokenizer

__all__ = ["WEIGHTS_ROOT", "build_from_tag", "list_pretrained", "load_tag_weights", "tag_dir", "tag_state_dict"]

WEIGHTS_ROOT = Path(__file__).resolve().parent / "pretrained_weights"


def list_pretrained() -> list[tuple[str, str]]:
    """``(config name, tag)`` of every shipped captioner, sorted."""
    return list_tags(WEIGHTS_ROOT, lambda data: data["config"]["name"])


def tag_dir(config: str, tag: str, root: str | Path | None = None) -> Path:
    """The folder of a shipped captioner tag (``root``: another folder of tags, e.g. a test's).

    Raises:
        ValueError: no such tag for this config (the message lists the shipped ones).
    """
    folder = Path(root or WEIGHTS_ROOT) / f"{config}-{tag}"
    if not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
        shipped = ", ".join(f"{c}:{t}" for c, t in list_pretrained()) or "none"
        raise ValueError(f"no pretrained captioner tag {tag!r} for config {config!r}; shipped: {shipped}")
    return folder


def tag_state_dict(model: Captioner) -> dict[str, torch.Tensor]:
    """What a tag ships of ``model``: its trainable parameters (not the frozen ViT), in half precision."""
    return {n: p.detach().half().contiguous().clone() for n, p in model.trainable_parameters()}


def build_from_tag(folder: str | Path, *, vision_state_dict: Mapping[str, torch.Tensor]) -> Captioner:
    """Rebuild the captioner of a tag folder: its config and tokenizer, the frozen ViT from ``vision_state_dict``
    (the retriever tag's vision tower, without prefix) and the shipped parameters upcast to float32; its
    ``model_id`` is the hash of those weights (``captioner.weights_id``).

    Raises:
        ValueError: the weights do not match the config (missing or extra tensors).
    """
    folder = Path(folder)
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    model = build_captioner(
        config_from_dict(meta["config"]),
        vision_config=meta["vision_config"],
        vision_state_dict=vision_state_dict,
        tokenizer=load_tokenizer(folder),
    )
    state = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
    expected = {n for n, _ in model.trainable_parameters()}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"{folder / 'model.safetensors'} does not match its config: missing {missing[:5]}, "
                         f"extra {extra[:5]}")  # fmt: skip
    model.load_state_dict(state, strict=False)
    model.model_id = weights_id(model)
    model.video_embedder_id = meta.get("video_embedder")
    return model


def load_tag_weights(folder: str | Path, *, vision_state_dict: Mapping[str, torch.Tensor]) -> Captioner:
    """:func:`build_from_tag`, checked against the model id its ``config.json`` records.

    Raises:
        ValueError: the weights do not match the config, or do not hash to the recorded model id (a different
            frozen ViT gives the same trainable weights, so a wrong retriever is caught by the video embedder id
            when the captioner is attached to it).
    """
    model = build_from_tag(folder, vision_state_dict=vision_state_dict)
    recorded = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))["model_id"]
    if model.model_id != recorded:
        raise ValueError(f"{folder} loads as {model.model_id}, but its config.json records {recorded}")
    return model

"""Pretrained tags: weights that ship inside the package, named like open_clip's pretrained registry.

``create_model("tiny", pretrained="synth-v1")`` builds the ``tiny`` config and loads the weights of
``retrieval/pretrained_weights/tiny-synth-v1/``: half-precision safetensors without the frozen text backbone (it
loads from its own package), upcast to float32 at load. The folder's ``config.json`` records the model id the loaded
model has, the data seeds, the recipe and the metrics; ``MODEL_CARD.md`` says how it was made
(``adsearch pretrain``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from modelkit.tags import list_tags

from .checkpoint import load_stored_state, stored_state_dict
from .model import VideoTextRetriever

__all__ = ["WEIGHTS_ROOT", "is_pretrained_tag", "list_pretrained", "load_tag_weights", "tag_dir", "tag_state_dict"]

WEIGHTS_ROOT = Path(__file__).resolve().parent / "pretrained_weights"


def list_pretrained() -> list[tuple[str, str]]:
    """``(config name, tag)`` of every shipped pretrained weight set, sorted."""
    return list_tags(WEIGHTS_ROOT, lambda data: data["model"])


def is_pretrained_tag(model: str, tag: str | None) -> bool:
    """True when ``tag`` names shipped weights of config ``model`` (rather than a local path)."""
    return bool(tag) and (model, tag) in list_pretrained()


def tag_dir(model: str, tag: str) -> Path:
    """The folder of a shipped tag.

    Raises:
        ValueError: no such tag for this config (the message lists the shipped ones).
    """
    if not is_pretrained_tag(model, tag):
        shipped = ", ".join(f"{m}:{t}" for m, t in list_pretrained()) or "none"
        raise ValueError(f"no pretrained tag {tag!r} for retriever config {model!r}; shipped: {shipped}")
    return WEIGHTS_ROOT / f"{model}-{tag}"


def tag_state_dict(model: VideoTextRetriever) -> dict[str, torch.Tensor]:
    """What a tag ships of ``model``: every tensor but the frozen text backbone, floats in half precision."""
    return {
        k: (v.half() if v.is_floating_point() else v).contiguous().clone() for k, v in stored_state_dict(model).items()
    }


def load_tag_weights(
    model_name: str, folder: str | Path, model: VideoTextRetriever | None = None
) -> VideoTextRetriever:
    """Load a tag folder's weights into ``model`` (default: a fresh ``create_model(model_name)``), upcast to float32.

    Raises:
        ValueError: the file lacks a tensor the model needs (other than the frozen backbone) or has extra ones.
    """
    if model is None:
        from .factory import create_model

        model = create_model(model_name)
    state = {
        k: v.float() if v.is_floating_point() else v
        for k, v in load_file(str(Path(folder) / "model.safetensors")).items()
    }
    load_stored_state(model, state, Path(folder) / "model.safetensors")
    return model

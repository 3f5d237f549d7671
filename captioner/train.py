"""Training: description loss Ld + prompt-guided keyword generation Lk on mixed primary/auxiliary data.

Examples per clip (default recipe): with a fine-grained ``reference`` -> a primary description example
("Describe the video." -> reference) and a primary PKG example; with a ``general`` caption (and ``mixed``) -> an
auxiliary description example and an auxiliary PKG example routed through the ``aux`` alignment. On the default
catalog every train clip has both, so each gives one primary and one auxiliary example of each task. The general
captioner trains on the general captions only, description task only, through ``primary``.
``L = lambda_d * Ld + lambda_k * Lk`` with Ld, Lk the token-mean losses of the batch's examples of each task.
Frozen ViT tokens (and, with a video prefix, the attached embedder's clip embedding) are computed once per clip
(cached on disk under ``cache_dir`` when given).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from media.progress import progress_bar

from .checkpoint import load_captioner, save_captioner
from .data import CaptionItem, load_frames
from .keywords import make_pkg_example
from .model import Captioner

__all__ = ["CaptionTrainConfig", "CaptionTrainResult", "frozen_features", "frozen_inputs_key", "train_captioner"]

logger = logging.getLogger(__name__)
_STATE_FILE = "train_state.json"
_OPTIM_FILE = "optimizer.safetensors"
_ENCODE_BATCH = 16  # clips per frozen-ViT batch when filling the feature cache


@dataclass(frozen=True)
class CaptionTrainConfig:
    """Training options; ``None`` for epochs/batch_size/lr/lr_qformer/warmup_steps takes the model's recipe."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None  # GMHRA, alignment, LM
    lr_qformer: float | None = None  # Q-Former and queries (lower in the paper config)
    warmup_steps: int | None = None
    lambda_d: float = 2.0  # description loss weight
    lambda_k: float = 5.0  # keyword (PKG) loss weight
    use_pkg: bool = True
    mixed: bool = True  # add the auxiliary general-caption examples (fine captioner)
    dual_alignment: bool = True  # route auxiliary examples through ``aux`` (else through ``primary``)
    device: str | None = None  # None: CUDA when present, else CPU
    cache_dir: str | None = None  # frozen ViT tokens per clip
    seed: int = 0
    weight_decay: float = 0.01


@dataclass
class CaptionTrainResult:
    """``model_id`` of the saved checkpoint, wall time, and one log row per epoch."""

    model_id: str
    seconds: float
    log: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class _Example:
    row: int  # index into the feature table
    aux: bool
    task: str  # "d" description, "k" keyword
    prompt: tuple[int, ...]
    target: tuple[int, ...]


def train_captioner(
    model: Captioner,
    items: list[CaptionItem],
    cfg: CaptionTrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = False,
    frame_loader: Callable[[CaptionItem], np.ndarray] | None = None,
) -> CaptionTrainResult:
    """Train ``model`` on ``items`` and save it to ``out_dir`` (after every epoch, with the optimizer state).

    Args:
        model: From :func:`captioner.create_captioner`.
        items: Training clips; a clip whose frames cannot be read is logged and skipped.
        cfg: Options (see :class:`CaptionTrainConfig`).
        out_dir: Checkpoint directory.
        resume: Continue from the epoch and optimizer state saved in ``out_dir``.
        progress: Show progress bars (feature extraction, steps with the loss; log lines off a terminal).
        frame_loader: ``item -> uint8 (T, H, W, 3)``; :func:`captioner.load_frames` by default.

    Returns:
        The saved model id, seconds spent and the per-epoch log.

    Raises:
        ValueError: If no item yields a training example.
    """
    start = time.perf_counter()
    recipe = model.config.recipe
    epochs = cfg.epochs if cfg.epochs is not None else recipe.epochs
    batch_size = cfg.batch_size or recipe.batch_size
    lr = cfg.lr or recipe.lr
    lr_q = cfg.lr_qformer or recipe.lr_qformer
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else recipe.warmup_steps
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    model.to(device)

    loader = frame_loader or (lambda item: load_frames(model, item))
    kept, features, videos = frozen_features(model, items, loader, cfg.cache_dir, progress)
    rng = random.Random(cfg.seed)
    if not _examples(model, kept, cfg, rng):
        raise ValueError("no training examples: items need a reference (fine) or a general caption")

    params = model.trainable_parameters()
    q_names = {n for n, _ in params if n.startswith("qformer.")}
    groups = []
    for names, group_lr in ((q_names, lr_q), ({n for n, _ in params} - q_names, lr)):
        chosen = [(n, p) for n, p in params if n in names]
        decay = [p for n, p in chosen if p.ndim >= 2 and "token" not in n]
        no_decay = [p for n, p in chosen if not (p.ndim >= 2 and "token" not in n)]
        groups += [
            {"params": decay, "lr": group_lr, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "lr": group_lr, "weight_decay": 0.0},
        ]
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.98))
    probe = random.Random(cfg.seed)
    steps_per_epoch = len(_clip_batches(_examples(model, kept, cfg, probe), batch_size, probe))
    total = max(1, epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(warmup, total))

    log: list[dict] = []
    first_epoch = 0
    if resume and (out_dir / _STATE_FILE).is_file():
        first_epoch, log = _restore(model, optimizer, scheduler, out_dir, device)
        rng = random.Random(cfg.seed + first_epoch)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    model.train()
    for epoch in range(first_epoch, epochs):
        batches = _clip_batches(_examples(model, kept, cfg, rng), batch_size, rng)
        sums = {"loss": 0.0, "ld": 0.0, "lk": 0.0, "steps": 0}
        bar = progress_bar(batches, desc=f"epoch {epoch + 1}/{epochs}", unit="step", enabled=progress)
        for batch in bar:
            clips = sorted({e.row for e in batch})
            where = {row: k for k, row in enumerate(clips)}
            hidden = features[clips].to(device, non_blocking=True)  # (clips, K, T, 1+L, D)
            video = videos[clips].to(device) if videos is not None else None  # (clips, dim)
            rows = torch.tensor([where[e.row] for e in batch], device=device)
            aux = torch.tensor([e.aux and cfg.dual_alignment for e in batch], device=device)
            with autocast:
                losses = model.token_losses(
                    hidden, [e.prompt for e in batch], [e.target for e in batch], aux, rows=rows, chunks=2, video=video
                )
            is_k = torch.tensor([e.task == "k" for e in batch], device=device)
            # Each example's token-mean loss, weighted by its target length: Ld and Lk are token means over the
            # batch, so a 60-word description weighs more than a 5-word caption.
            n_tokens = torch.tensor([len(e.target) + 1 for e in batch], device=device, dtype=losses.dtype)
            ld, lk = (_weighted_mean(losses, n_tokens, m) for m in (~is_k, is_k))
            loss = cfg.lambda_d * ld + cfg.lambda_k * lk
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
            optimizer.step()
            scheduler.step()
            sums["loss"] += loss.item()
            sums["ld"] += ld.item()
            sums["lk"] += lk.item()
            sums["steps"] += 1
            bar.set_postfix(loss=f"{loss.item():.3f}")
        n = max(1, sums.pop("steps"))
        row = {"epoch": epoch + 1, **{k: v / n for k, v in sums.items()}, "seconds": time.perf_counter() - start}
        log.append(row)
        logger.info("captioner epoch %d: loss %.4f (Ld %.4f, Lk %.4f)", epoch + 1, row["loss"], row["ld"], row["lk"])
        _checkpoint(model, optimizer, scheduler, out_dir, epoch + 1, log)
    model_id = save_captioner(model, out_dir)
    seconds = time.perf_counter() - start
    logger.info("trained captioner %s on %d clips in %.1f s", model_id, len(kept), seconds)
    return CaptionTrainResult(model_id=model_id, seconds=seconds, log=log)


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Weighted mean of ``values[mask]`` (zero when the mask is empty)."""
    if not bool(mask.any()):
        return values.new_zeros(())
    w = weights[mask]
    return (values[mask] * w).sum() / w.sum()


def _examples(model: Captioner, items: list[CaptionItem], cfg: CaptionTrainConfig, rng: random.Random) -> list:
    """This epoch's examples (PKG keywords drawn anew each epoch)."""
    prompt = tuple(model.encode_text(model.config.prompt))
    out: list[_Example] = []
    for row, item in enumerate(items):
        sources: list[tuple[str, bool]] = []
        if model.kind == "general":
            if item.general:
                sources.append((item.general, False))
        else:
            if item.reference:
                sources.append((item.reference, False))
            if item.general and (cfg.mixed or not item.reference):
                sources.append((item.general, bool(item.reference) or cfg.mixed))
        for text, aux in sources:
            out.append(_Example(row, aux, "d", prompt, tuple(model.encode_text(text))))
            if cfg.use_pkg and model.kind == "fine":
                pkg = make_pkg_example(text, item.keywords, rng)
                if pkg is not None:
                    masked, keyword = (tuple(model.encode_text(t)) for t in pkg)
                    out.append(_Example(row, aux, "k", masked, keyword))
    return out


def _clip_batches(examples: list[_Example], batch_size: int, rng: random.Random) -> list[list[_Example]]:
    """Shuffled batches of about ``batch_size`` examples that keep each clip's examples together."""
    by_clip: dict[int, list[_Example]] = {}
    for e in examples:
        by_clip.setdefault(e.row, []).append(e)
    order = list(by_clip)
    rng.shuffle(order)
    batches: list[list[_Example]] = [[]]
    for row in order:
        if batches[-1] and len(batches[-1]) + len(by_clip[row]) > batch_size:
            batches.append([])
        batches[-1].extend(by_clip[row])
    return [b for b in batches if b]


def frozen_features(
    model, items, loader, cache_dir, progress
) -> tuple[list[CaptionItem], torch.Tensor, torch.Tensor | None]:
    """Frozen inputs of every readable item: (kept items, ViT tokens fp16 (N, K, T, 1+L, D), video embeddings
    float32 (N, dim) or None when the model has no video prefix)."""
    cache = Path(cache_dir) if cache_dir else None
    key = frozen_inputs_key(model)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    kept: list[CaptionItem] = []
    feats: list[torch.Tensor] = []
    videos: list[torch.Tensor] = []
    pending: list[tuple[CaptionItem, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        frames = np.stack([f for _, f in pending])
        hidden = model.encode_frames(frames).half().cpu()
        video = model.encode_video(frames)
        for i, ((item, _), h) in enumerate(zip(pending, hidden, strict=True)):
            kept.append(item)
            feats.append(h)
            tensors = {"hidden": h.contiguous()}
            if video is not None:
                videos.append(video[i].cpu())
                tensors["video"] = videos[-1].contiguous()
            if cache is not None:
                save_file(tensors, str(_cache_path(cache, key, item)))
        pending.clear()

    for item in progress_bar(items, desc="frozen ViT features", unit="clip", enabled=progress):
        path = _cache_path(cache, key, item) if cache is not None else None
        if path is not None and path.is_file():
            cached = load_file(str(path))
            kept.append(item)
            feats.append(cached["hidden"])
            if model.video_prefix is not None:
                videos.append(cached["video"])
            continue
        try:
            frames = loader(item)
        except Exception as e:  # a bad clip is reported and skipped; the rest trains
            logger.warning("skipping clip %s (%s): %s", item.clip_id, item.path, e)
            continue
        pending.append((item, frames))
        if len(pending) >= _ENCODE_BATCH:
            flush()
    flush()
    if not feats:
        raise ValueError("no clip could be read; check the clips' video paths")
    return kept, torch.stack(feats), (torch.stack(videos) if videos else None)


def frozen_inputs_key(model: Captioner) -> str:
    """Id of a captioner's frozen inputs (ViT config and weights, layers, frames, kind, video embedder): the key of
    its feature cache, and what an attribute tagger trained on them records."""
    digest = hashlib.sha1(json.dumps(model.encoder.vision_config, sort_keys=True).encode())
    digest.update(f"{model.config.vision_layers}|{model.num_frames}|{model.kind}".encode())
    if model.video_prefix is not None:  # the cached video embeddings are those of this embedder
        digest.update(f"|video:{model.video_embedder_id}".encode())
    for name, t in sorted(model.encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(t.float().cpu().reshape(-1).numpy()[:64].tobytes())  # 0-d buffers too (BatchNorm counts)
    return digest.hexdigest()[:12]


def _cache_path(cache: Path, key: str, item: CaptionItem) -> Path:
    clip = hashlib.sha1(f"{item.path}|{item.start_s:.6f}|{item.end_s:.6f}".encode()).hexdigest()[:12]
    return cache / f"{key}-{item.clip_id}-{clip}.safetensors"


def _warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _checkpoint(model, optimizer, scheduler, out_dir: Path, epoch: int, log: list[dict]) -> None:
    save_captioner(model, out_dir)
    tensors = {}
    for idx, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
    save_file(tensors, str(out_dir / _OPTIM_FILE))
    state = {"epoch": epoch, "log": log, "scheduler": scheduler.state_dict()}
    (out_dir / _STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def _restore(model, optimizer, scheduler, out_dir: Path, device) -> tuple[int, list[dict]]:
    state = json.loads((out_dir / _STATE_FILE).read_text(encoding="utf-8"))
    saved = load_captioner(out_dir, map_location=device)
    model.load_state_dict(saved.state_dict())
    tensors = load_file(str(out_dir / _OPTIM_FILE))
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        opt_state.setdefault(int(idx), {})[name] = value.to(device) if name != "step" else value
    optimizer.load_state_dict({"state": opt_state, "param_groups": optimizer.state_dict()["param_groups"]})
    scheduler.load_state_dict(state["scheduler"])
    return int(state["epoch"]), list(state["log"])

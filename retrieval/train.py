"""Contrastive training of the retriever on clips with ASR and caption texts (CLIP-ViP omnisource), with resume."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from media.progress import progress_bar

from .checkpoint import WEIGHTS_NAME, load_stored_state, read_checkpoint_meta, save_checkpoint
from .config import config_to_dict
from .dataset import ClipDataset, ClipItem, FrameLoader, collate_clips
from .evaluate import evaluate_retrieval
from .loss import clamp_logit_scale_, omnisource_loss
from .model import VideoTextRetriever
from .optim import WarmupCosine, build_optimizer

__all__ = ["TrainConfig", "TrainResult", "sample_texts", "train_retriever", "training_step"]

logger = logging.getLogger(__name__)

STATE_NAME = "train_state.pt"
LOG_NAME = "train_log.jsonl"
SOURCES = ("asr", "caption")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation and data settings of ``train_retriever``."""

    epochs: int = 10  # passes over the training clips
    batch_size: int = 32  # clips per optimiser step
    lr: float = 1e-4  # peak learning rate, reached after warm-up
    weight_decay: float = 0.2  # AdamW decoupled weight decay (norms, biases, embeddings, logit scale exempt)
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas
    eps: float = 1e-6  # AdamW epsilon
    warmup_ratio: float = 0.1  # fraction of all steps spent in linear warm-up
    min_lr_ratio: float = 0.0  # final learning rate as a fraction of the peak, after cosine decay
    text_backbone_lr_ratio: float = 0.1  # lr of a fine-tuned (unfrozen) pretrained text backbone, as a fraction of lr
    grad_clip_norm: float | None = 1.0  # max global gradient L2 norm; None disables clipping
    loss_weights: Mapping[str, float] = field(default_factory=lambda: {"asr": 1.0, "caption": 1.0})  # per source
    caption_kinds: tuple[str, ...] = ("reference", "general")  # text kinds pooled into the caption source
    # Chance that a picked multi-sentence caption is replaced by an ordered random subset of its sentences (1 to
    # n-1 of them): short partial descriptions, like the few attributes a person types as a query.
    partial_caption_prob: float = 0.0
    asr_kind: str = "asr"  # text kind of the ASR source
    num_workers: int = 0  # DataLoader worker processes decoding frames
    frame_cache_dir: str | None = None  # directory for uint8 .npy frame caches; None = no disk cache
    cache_frames_in_memory: bool = True  # keep decoded frames in memory across epochs (small catalogs)
    eval_batch_size: int = 64  # clips per forward pass during evaluation
    device: str | None = None  # "cuda", "cpu", ...; None = CUDA when present
    amp: bool = True  # bf16 autocast on CUDA
    amp_cpu: bool = False  # bf16 autocast on CPU too (~1.9x faster `tiny` steps on a CPU with AMX/AVX512-BF16)
    seed: int = 0  # seeds shuffling and text sampling

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"need epochs >= 1 and batch_size >= 2, got {self.epochs} and {self.batch_size}")
        unknown = sorted(set(self.loss_weights) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown loss_weights source(s) {unknown}; valid sources: {list(SOURCES)}")
        if not self.text_backbone_lr_ratio > 0.0:
            raise ValueError(f"text_backbone_lr_ratio must be > 0, got {self.text_backbone_lr_ratio}")
        if not 0.0 <= self.partial_caption_prob <= 1.0:
            raise ValueError(f"partial_caption_prob must be in [0, 1], got {self.partial_caption_prob}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        object.__setattr__(self, "loss_weights", dict(self.loss_weights))


@dataclass
class TrainResult:
    """What ``train_retriever`` did."""

    epochs_completed: int  # epochs finished in total, including those of a resumed run
    global_step: int  # optimiser steps in total
    history: list[dict[str, Any]]  # the train_log.jsonl rows written by this call
    final_metrics: dict[str, dict[str, float]]  # evaluation after the last epoch ({} without eval_items)
    model_id: str  # id of the last saved checkpoint
    checkpoint_dir: Path  # where config.json, model.safetensors, train_state.pt and train_log.jsonl live


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def partial_view(text: str, rng: np.random.Generator) -> str:
    """An ordered random subset of ``text``'s sentences (1 to n-1 of them); a one-sentence text comes back whole."""
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    if len(sentences) < 2:
        return text
    keep = np.sort(rng.choice(len(sentences), size=int(rng.integers(1, len(sentences))), replace=False))
    return " ".join(sentences[i] for i in keep)


def sample_texts(
    items: Sequence[ClipItem],
    rng: np.random.Generator,
    *,
    caption_kinds: Sequence[str],
    asr_kind: str = "asr",
    partial_caption_prob: float = 0.0,
) -> dict[str, tuple[list[str], list[int]]]:
    """Pick this step's texts: per clip one ASR text and one caption (a random available kind, then a text; with
    probability ``partial_caption_prob`` that caption's ``partial_view``).

    Returns:
        ``{"asr": (texts, rows), "caption": (texts, rows)}`` where ``rows`` index ``items``; clips without a text of
        a source are left out of it.
    """
    out: dict[str, tuple[list[str], list[int]]] = {"asr": ([], []), "caption": ([], [])}
    for row, item in enumerate(items):
        asr = item.texts.get(asr_kind) or []
        if asr:
            out["asr"][0].append(asr[rng.integers(len(asr))])
            out["asr"][1].append(row)
        kinds = [k for k in caption_kinds if item.texts.get(k)]
        if kinds:
            texts = item.texts[kinds[rng.integers(len(kinds))]]
            text = texts[rng.integers(len(texts))]
            if partial_caption_prob > 0.0 and rng.random() < partial_caption_prob:
                text = partial_view(text, rng)
            out["caption"][0].append(text)
            out["caption"][1].append(row)
    return out


def training_step(
    model: VideoTextRetriever,
    frames: torch.Tensor,
    texts: Mapping[str, tuple[Sequence[str], Sequence[int]]],
    *,
    optimizer: torch.optim.Optimizer,
    loss_weights: Mapping[str, float],
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip_norm: float | None = 1.0,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """One optimiser step on a batch; clamps the logit scale to [0, config.max_logit_scale] afterwards.

    Args:
        model: The retriever (put in training mode).
        frames: uint8 frames (B, T, H, W, 3) on any device.
        texts: Source -> (texts, batch rows they describe), as from ``sample_texts``.
        optimizer: The optimiser over the model's trainable parameters.
        loss_weights: Source -> weight.
        scheduler: Stepped once after the optimiser, if given.
        grad_clip_norm: Max global gradient norm, or None.
        amp_dtype: Autocast dtype (bf16 on CUDA), or None for full precision.

    Returns:
        ``{"loss", "loss_<source>"..., "grad_norm"}`` as floats.
    """
    model.train()
    device = model.device
    x = model.preprocess(frames)
    names = [k for k in texts if len(texts[k][0]) > 0]
    all_texts = [t for k in names for t in texts[k][0]]
    autocast = torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)
    with autocast:
        video = model.encode_video(x).float()
        text = model.encode_text(all_texts).float()  # one pass for every source
    per_source, same_text, start = {}, {}, 0
    for k in names:
        n = len(texts[k][0])
        rows = torch.as_tensor(list(texts[k][1]), dtype=torch.int64, device=device)
        per_source[k] = (text[start : start + n], rows)
        same_text[k] = _same_text(texts[k][0])
        start += n
    loss, parts = omnisource_loss(video, per_source, model.logit_scale, loss_weights, same_text=same_text)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip_norm if grad_clip_norm else math.inf)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    # After the step, as in open_clip: the optimiser may push the temperature outside the allowed range.
    clamp_logit_scale_(model.logit_scale, model.config.max_logit_scale)
    out = {"loss": float(loss.detach()), "grad_norm": float(grad_norm)}
    out.update({f"loss_{k}": float(v.detach()) for k, v in parts.items()})
    return out


def _same_text(texts: Sequence[str]) -> torch.Tensor:
    # (n, n) bool: True where two texts are the same string (their clips are not each other's negatives).
    ids = {}
    codes = torch.tensor([ids.setdefault(t, len(ids)) for t in texts])
    return codes[:, None] == codes[None, :]


def train_retriever(
    model: VideoTextRetriever,
    train_items: Sequence[ClipItem],
    *,
    eval_items: Sequence[ClipItem] | None = None,
    cfg: TrainConfig,
    out_dir: Path,
    resume: bool = False,
    progress: bool = False,
    frame_loader: FrameLoader | None = None,
) -> TrainResult:
    """Train ``model`` in place, checkpointing to ``out_dir`` and evaluating on ``eval_items`` every epoch.

    Every epoch writes ``config.json`` + ``model.safetensors`` (the model), ``train_state.pt`` (optimiser,
    scheduler, epoch; tensors and plain values only, read back with ``weights_only=True``) and appends one JSON
    row to ``train_log.jsonl`` (losses, lr, logit scale, clips/s, and text->video R@1/5/10, MdR, MnR per query kind
    of ``eval_items``, reference descriptions first).

    Args:
        model: The retriever; moved to the training device.
        train_items: Training clips; those without any ASR or caption text are skipped (logged).
        eval_items: Clips evaluated after every epoch, or None.
        cfg: Training settings.
        out_dir: Checkpoint directory.
        resume: Continue from ``out_dir``'s last completed epoch (the model's weights are replaced by it).
        progress: Show progress bars (loss and clips/s).
        frame_loader: Frame loader for the clips; default ``media.sample_frames``.

    Raises:
        ValueError: Fewer than two usable training clips; ``out_dir`` holds another run and ``resume`` is False;
            the checkpoint to resume does not match the model's config.
    """
    out_dir = Path(out_dir)
    usable = [it for it in train_items if _has_text(it, cfg)]
    if len(usable) < len(train_items):
        logger.warning("skipping %d training clips without asr/caption texts", len(train_items) - len(usable))
    if len(usable) < 2:
        raise ValueError(f"need at least 2 training clips with texts, got {len(usable)}")
    state_file = out_dir / STATE_NAME
    if state_file.exists() and not resume:
        raise ValueError(f"{out_dir} already holds a training run; pass resume=True or use another out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)

    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    use_amp = (cfg.amp and device.type == "cuda") or (cfg.amp_cpu and device.type == "cpu")
    amp_dtype = torch.bfloat16 if use_amp else None
    vcfg = model.config.vision
    train_ds = _dataset(usable, vcfg, cfg, frame_loader)
    eval_ds = _dataset(eval_items, vcfg, cfg, frame_loader) if eval_items else None
    if cfg.cache_frames_in_memory:
        # decoded video by video (much faster than clip by clip); forked DataLoader workers share the copy
        train_ds.preload(progress=progress)
        if eval_ds is not None:
            eval_ds.preload(progress=progress)

    steps_per_epoch = len(_epoch_batches(len(usable), cfg.batch_size, np.random.default_rng(0)))
    total_steps = cfg.epochs * steps_per_epoch
    optimizer = build_optimizer(
        model,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        betas=cfg.betas,
        eps=cfg.eps,
        lr_ratios={"text.backbone.": cfg.text_backbone_lr_ratio},
    )
    schedule = WarmupCosine(
        warmup_steps=round(cfg.warmup_ratio * total_steps), total_steps=total_steps, min_ratio=cfg.min_lr_ratio
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    start_epoch, global_step = 0, 0
    if resume and state_file.exists():
        start_epoch, global_step = _restore(model, optimizer, scheduler, out_dir, device)
        logger.info("resuming %s after epoch %d (step %d)", out_dir, start_epoch, global_step)
    elif resume:
        logger.info("nothing to resume in %s; starting from epoch 0", out_dir)

    history: list[dict[str, Any]] = []
    final_metrics: dict[str, dict[str, float]] = {}
    model_id = model.model_id if start_epoch >= cfg.epochs else ""
    t_run, clips_run = time.perf_counter(), 0
    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])  # same batches and texts whether resumed or not
        means, n_steps, n_clips, epoch_time = _train_epoch(
            model,
            train_ds,
            usable,
            rng,
            cfg,
            optimizer,
            scheduler,
            amp_dtype,
            f"epoch {epoch + 1}/{cfg.epochs}",
            progress,
        )
        global_step += n_steps
        clips_run += n_clips
        model_id = save_checkpoint(model, out_dir)
        _save_state(out_dir, optimizer, scheduler, epoch + 1, global_step, model_id, cfg)
        if eval_items:
            final_metrics = evaluate_retrieval(
                model, eval_items, dataset=eval_ds, batch_size=cfg.eval_batch_size, device=device
            )
        row = {
            "epoch": epoch + 1,
            "global_step": global_step,
            **{("train_loss" if k == "loss" else k): v for k, v in means.items()},
            "lr": scheduler.get_last_lr()[0],
            "logit_scale": float(model.logit_scale.detach().exp()),
            "clips_per_s": n_clips / epoch_time,
            "epoch_time_s": epoch_time,
            "model_id": model_id,
            "eval": final_metrics,
        }
        _append_jsonl(out_dir / LOG_NAME, row)
        history.append(row)
        r1 = final_metrics.get("reference", next(iter(final_metrics.values()), {})).get("R@1")
        logger.info(
            "epoch %d/%d: loss %.4f, %.1f clips/s%s",
            epoch + 1,
            cfg.epochs,
            row["train_loss"],
            row["clips_per_s"],
            f", eval R@1 {r1:.1f}" if r1 is not None else "",
        )
    elapsed = time.perf_counter() - t_run
    logger.info(
        "trained %d epochs (%d steps, %d clips) in %.1fs, %.1f clips/s -> %s",
        cfg.epochs - start_epoch,
        global_step,
        clips_run,
        elapsed,
        clips_run / max(elapsed, 1e-9),
        model_id,
    )
    return TrainResult(
        epochs_completed=max(cfg.epochs, start_epoch),
        global_step=global_step,
        history=history,
        final_metrics=final_metrics,
        model_id=model_id,
        checkpoint_dir=out_dir,
    )


def _train_epoch(
    model: VideoTextRetriever,
    dataset: ClipDataset,
    items: Sequence[ClipItem],
    rng: np.random.Generator,
    cfg: TrainConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    amp_dtype: torch.dtype | None,
    desc: str,
    progress: bool,
) -> tuple[dict[str, float], int, int, float]:
    """One pass over ``items``; returns (mean of each step statistic, steps, clips seen, seconds)."""
    batches = _epoch_batches(len(items), cfg.batch_size, rng)
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=cfg.num_workers,
        collate_fn=collate_clips,
        pin_memory=model.device.type == "cuda",
    )
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}  # a source can be absent from a batch, so each statistic has its own count
    t0, n_clips = time.perf_counter(), 0
    bar = progress_bar(loader, total=len(batches), desc=desc, enabled=progress)
    for batch in bar:
        batch_items = [items[i] for i in batch["index"].tolist()]
        texts = sample_texts(
            batch_items,
            rng,
            caption_kinds=cfg.caption_kinds,
            asr_kind=cfg.asr_kind,
            partial_caption_prob=cfg.partial_caption_prob,
        )
        stats = training_step(
            model,
            batch["frames"],
            texts,
            optimizer=optimizer,
            scheduler=scheduler,
            loss_weights=cfg.loss_weights,
            grad_clip_norm=cfg.grad_clip_norm,
            amp_dtype=amp_dtype,
        )
        n_clips += len(batch_items)
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
            counts[k] = counts.get(k, 0) + 1
        bar.set_postfix(loss=f"{stats['loss']:.3f}", clips_s=f"{n_clips / (time.perf_counter() - t0):.1f}")
    bar.close()
    return {k: sums[k] / counts[k] for k in sums}, len(batches), n_clips, time.perf_counter() - t0


def _has_text(item: ClipItem, cfg: TrainConfig) -> bool:
    return bool(item.texts.get(cfg.asr_kind)) or any(item.texts.get(k) for k in cfg.caption_kinds)


def _dataset(items: Sequence[ClipItem], vcfg, cfg: TrainConfig, loader: FrameLoader | None) -> ClipDataset:
    return ClipDataset(
        items,
        n_frames=vcfg.num_frames,
        image_size=vcfg.image_size,
        frame_loader=loader,
        cache_dir=cfg.frame_cache_dir,
        cache_in_memory=cfg.cache_frames_in_memory,
    )


def _epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    # Drop the last partial batch (fewer negatives, noisier loss) unless it is the only one.
    order = rng.permutation(n).tolist()
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def _save_state(out_dir: Path, optimizer, scheduler, epoch: int, step: int, model_id: str, cfg: TrainConfig) -> None:
    state = {
        "epoch": epoch,
        "global_step": step,
        "model_id": model_id,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "train_config": json.dumps(dataclasses.asdict(cfg)),
    }
    tmp = out_dir / f".{STATE_NAME}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out_dir / STATE_NAME)


def _restore(model: VideoTextRetriever, optimizer, scheduler, out_dir: Path, device: torch.device) -> tuple[int, int]:
    meta = read_checkpoint_meta(out_dir)
    if meta["config"] != json.loads(json.dumps(config_to_dict(model.config))):  # compare as JSON (tuples -> lists)
        raise ValueError(f"cannot resume: the checkpoint in {out_dir} has another model config than the model given")
    state = torch.load(out_dir / STATE_NAME, map_location=device, weights_only=True)
    load_stored_state(model, load_file(str(out_dir / WEIGHTS_NAME), device="cpu"), out_dir / WEIGHTS_NAME)
    if model.model_id != state["model_id"]:
        raise ValueError(
            f"cannot resume: {out_dir / WEIGHTS_NAME} is not the model of {STATE_NAME} (a save was interrupted); "
            "restore a consistent pair or start a new run"
        )
    optimizer.load_state_dict(state["optimizer"])
    # LambdaLR also restores the schedule object's settings; keep this run's (more epochs may have been asked for).
    settings = [dict(fn.__dict__) for fn in scheduler.lr_lambdas]
    scheduler.load_state_dict(state["scheduler"])
    for fn, own in zip(scheduler.lr_lambdas, settings, strict=True):
        fn.__dict__.update(own)
    return int(state["epoch"]), int(state["global_step"])


def _append_jsonl(path: Path, row: Mapping[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")

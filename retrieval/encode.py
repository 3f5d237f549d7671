"""Batch encoding of clips and queries into float32 numpy vectors, the API the indexer calls."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from media.progress import progress_bar

from .dataset import ClipDataset, ClipItem, FrameLoader, collate_clips
from .model import VideoTextRetriever, VideoTower

__all__ = ["encode_clips", "encode_queries"]

ClipSource = ClipDataset | Iterable[ClipItem] | Iterable[tuple[int, np.ndarray]]


def encode_clips(
    model: VideoTextRetriever | VideoTower,
    clips: ClipSource,
    *,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    progress: bool = False,
    frame_loader: FrameLoader | None = None,
    num_workers: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Embed clips with the video tower.

    Args:
        model: The retriever (or its video tower alone, ``retrieval.load_video_tower``); switched to eval mode for
            the call and restored after.
        clips: ``ClipItem``s (frames sampled with the model's ``num_frames`` / ``image_size`` through
            ``frame_loader``, default ``media.sample_frames``), a ``ClipDataset``, or ``(clip_id, frames)`` pairs
            with uint8 frames (T, H, W, 3), consumed as a stream.
        batch_size: Clips per forward pass.
        device: Where to run; the model is moved there. Default: where the model is.
        progress: Show a progress bar.
        frame_loader: Frame loader for ``ClipItem`` input.
        num_workers: DataLoader workers decoding ``ClipItem`` / ``ClipDataset`` input.

    Returns:
        ``(clip_ids, vectors)``: int64 (N,) and float32 (N, D), L2-normalised, in input order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if device is not None:
        model.to(device)
    batches, total = _frame_batches(model, clips, batch_size, frame_loader, num_workers)
    ids: list[np.ndarray] = []
    vecs: list[np.ndarray] = []
    with _eval_mode(model), torch.no_grad(), _autocast(model.device):
        bar = progress_bar(total=total, desc="encode clips", unit="clip", enabled=progress)
        for clip_ids, frames in batches:
            emb = model.encode_video(model.preprocess(frames))
            ids.append(clip_ids.numpy().astype(np.int64))
            vecs.append(emb.float().cpu().numpy())
            bar.update(len(clip_ids))
        bar.close()
    if not ids:
        return np.zeros((0,), np.int64), np.zeros((0, model.embed_dim), np.float32)
    return np.concatenate(ids), np.concatenate(vecs).astype(np.float32, copy=False)


def encode_queries(
    model: VideoTextRetriever,
    texts: Sequence[str],
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Embed query texts with the text tower: float32 (N, D), L2-normalised (long queries are truncated).

    Raises:
        ValueError: If ``texts`` is a bare string.
    """
    if isinstance(texts, str):
        raise ValueError("encode_queries takes a list of strings, not a single string")
    if device is not None:
        model.to(device)
    out = [np.zeros((0, model.embed_dim), np.float32)]
    with _eval_mode(model), torch.no_grad(), _autocast(model.device):
        starts = range(0, len(texts), batch_size)
        for start in progress_bar(starts, desc="encode queries", unit="batch", enabled=progress):
            emb = model.encode_text(list(texts[start : start + batch_size]))
            out.append(emb.float().cpu().numpy())
    return np.concatenate(out).astype(np.float32, copy=False)


def _frame_batches(
    model: VideoTextRetriever | VideoTower,
    clips: ClipSource,
    batch_size: int,
    loader: FrameLoader | None,
    num_workers: int,
) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor]], int | None]:
    if not isinstance(clips, ClipDataset):
        it = iter(clips)
        first = next(it, None)
        if first is None:
            return iter(()), 0
        it = itertools.chain([first], it)
        if not isinstance(first, ClipItem):
            return _pair_batches(it, batch_size), (len(clips) if hasattr(clips, "__len__") else None)
        v = model.config.vision
        clips = ClipDataset(list(it), n_frames=v.num_frames, image_size=v.image_size, frame_loader=loader)
    dl = DataLoader(clips, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_clips)
    return ((b["clip_id"], b["frames"]) for b in dl), len(clips)


def _pair_batches(pairs: Iterator, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while chunk := list(itertools.islice(pairs, batch_size)):
        ids = torch.tensor([int(c) for c, _ in chunk], dtype=torch.int64)
        frames = torch.stack([torch.as_tensor(np.asarray(f)) for _, f in chunk])  # (B, T, H, W, 3)
        yield ids, frames


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    # bf16 on GPU halves the cost of encoding; CPU stays in fp32 (bf16 is slower on most CPUs).
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""Embed clips with the retriever's video tower into a ``VectorStore``: the runner with frames -> vectors -> shards."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from indexer.runner import RunSummary, run_clips
from indexer.vectors import VectorStore
from retrieval import ClipDataset, ClipItem, VideoTextRetriever, encode_clips
from retrieval.dataset import FrameLoader

__all__ = ["embed_clips"]


def embed_clips(
    model: VideoTextRetriever,
    items: Sequence[ClipItem],
    store: VectorStore,
    *,
    batch_size: int = 16,
    workers: int = 2,
    prefetch: int = 2,
    frame_loader: FrameLoader | None = None,
    on_failure: Callable[[ClipItem, str], None] | None = None,
    progress: bool = False,
) -> RunSummary:
    """Embed the clips of ``items`` that ``store`` does not hold yet, one shard per batch.

    Reader: the model's ``num_frames`` frames sampled at equal intervals over the clip, at its image size
    (``ClipDataset.load_frames``: ``media.sample_frames`` by default, shape-checked), decoded in ``workers`` threads.
    Mapper: ``retrieval.encode_clips`` (the video tower, eval mode, L2-normalised). Writer: ``store.append``.
    Clips already in the store are skipped, so a killed run continues where it stopped; a clip that cannot be
    decoded fails alone (``on_failure`` and the summary) and is tried again by the next run.

    Args:
        model: The retriever; its model id must be the one ``store`` is named for (the caller's responsibility).
        items: Clips to embed.
        store: Where the vectors go.
        batch_size: Clips per forward pass and per shard.
        workers: Decoding threads.
        prefetch: Batches decoded ahead of the model.
        frame_loader: Replaces ``media.sample_frames`` (same signature).
        on_failure: Called with (clip, error) for each clip that failed.
        progress: Show a progress bar.

    Returns:
        The runner's summary (done, skipped, failed, seconds, failures).
    """
    vision = model.config.vision
    dataset = ClipDataset(items, n_frames=vision.num_frames, image_size=vision.image_size, frame_loader=frame_loader)
    position = {item.clip_id: i for i, item in enumerate(dataset.items)}

    def read(item: ClipItem) -> np.ndarray:
        return dataset.load_frames(position[item.clip_id])

    def map_batch(frames: list[np.ndarray]) -> np.ndarray:
        _, vectors = encode_clips(model, list(enumerate(frames)), batch_size=len(frames))
        return vectors

    def write(batch: list[ClipItem], vectors: Sequence[np.ndarray]) -> None:
        store.append(np.array([c.clip_id for c in batch], dtype=np.int64), np.asarray(vectors))

    return run_clips(
        items,
        key=lambda c: c.clip_id,
        done=set(store.ids().tolist()),
        read=read,
        map_batch=map_batch,
        write=write,
        on_failure=on_failure,
        batch_size=batch_size,
        prefetch=prefetch,
        workers=workers,
        progress=progress,
        desc=f"embed {store.model_id}",
    )

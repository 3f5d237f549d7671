"""Embed clips with the retriever's video tower into a ``VectorStore``: the embed stage (frames -> vectors ->
shards), run by the local runner or by Ray Data (``indexer.stage``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.runner import RunSummary
from indexer.stage import ClipStage, RayOptions, run_stage
from indexer.vectors import VectorStore
from retrieval import ClipDataset, ClipItem, VideoTextRetriever, VideoTower, encode_clips
from retrieval.dataset import FrameLoader

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CheckpointEncoder", "FrameReader", "VideoEncoder", "embed_clips", "embed_stage"]


@dataclass(frozen=True)
class FrameReader:
    """The embed stage's reader: ``n_frames`` frames sampled at equal intervals over a clip, at ``image_size``
    (``ClipDataset.load_frames``: ``media.sample_frames`` by default, shape-checked), uint8 (T, H, W, 3)."""

    n_frames: int
    image_size: int | tuple[int, int]
    frame_loader: FrameLoader | None = None

    def __call__(self, item: ClipItem) -> np.ndarray:
        dataset = ClipDataset(
            [item], n_frames=self.n_frames, image_size=self.image_size, frame_loader=self.frame_loader
        )
        return dataset.load_frames(0)


class VideoEncoder:
    """The embed stage's mapper: ``retrieval.encode_clips`` on a batch of frames (the video tower, eval mode,
    L2-normalised), float32 (B, D), on the device the model is on."""

    def __init__(self, model: VideoTextRetriever | VideoTower) -> None:
        self.model = model

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        _, vectors = encode_clips(self.model, list(enumerate(frames)), batch_size=len(frames))
        return vectors


@dataclass(frozen=True)
class _Loaded:
    """A loader of a model already in memory (the local runner; pickled whole if sent to Ray)."""

    model: VideoTextRetriever

    def __call__(self) -> VideoEncoder:
        return VideoEncoder(self.model)


@dataclass(frozen=True)
class CheckpointEncoder:
    """A loader that reads the video tower of the retriever checkpoint folder ``path`` where it runs (CUDA when
    present, else CPU; ``retrieval.load_video_tower``: no text backbone) and checks that the folder still holds
    ``model_id``: what a Ray actor receives instead of the weights.

    Raises (when called):
        ValueError: the checkpoint is not ``model_id`` (retrained since the run started), or its tower's weights
            do not match their recorded digest.
    """

    path: str
    model_id: str

    def __call__(self) -> VideoEncoder:
        import torch

        from retrieval import load_video_tower

        device = "cuda" if torch.cuda.is_available() else "cpu"
        return VideoEncoder(load_video_tower(self.path, model_id=self.model_id, map_location=device))


def _vector_columns(vectors: Sequence[np.ndarray]) -> dict[str, pa.Array]:
    import pyarrow as pa

    flat = np.asarray(vectors, dtype=np.float32)
    return {"vector": pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])}


def _vectors_of(table: pa.Table) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float32) for v in table.column("vector").to_numpy(zero_copy_only=False)]


def embed_stage(model: VideoTextRetriever | str | Path, *, frame_loader: FrameLoader | None = None) -> ClipStage:
    """The embed stage of ``model``: a loaded retriever, or its checkpoint folder (loaded where the stage's model
    runs: in this process by the local runner, in each actor under Ray; only ``config.json`` is read here)."""
    if isinstance(model, VideoTextRetriever):
        vision, model_id, load = model.config.vision, model.model_id, _Loaded(model)
    else:
        from retrieval import config_from_dict, read_checkpoint_meta

        meta = read_checkpoint_meta(model)
        vision, model_id = config_from_dict(meta["config"]).vision, meta["model_id"]
        load = CheckpointEncoder(str(model), model_id)
    return ClipStage(
        desc=f"embed {model_id}",
        read=FrameReader(vision.num_frames, vision.image_size, frame_loader),
        load=load,
        to_columns=_vector_columns,
        from_columns=_vectors_of,
    )


def embed_clips(
    model: VideoTextRetriever | str | Path,
    items: Sequence[ClipItem],
    store: VectorStore,
    *,
    batch_size: int = 16,
    workers: int = 2,
    prefetch: int = 2,
    frame_loader: FrameLoader | None = None,
    on_failure: Callable[[ClipItem, str], None] | None = None,
    progress: bool = False,
    ray: RayOptions | None = None,
) -> RunSummary:
    """Embed the clips of ``items`` that ``store`` does not hold yet, one shard per batch.

    Reader: ``FrameReader`` (decoded in ``workers`` threads, or in Ray CPU tasks). Mapper: ``VideoEncoder``.
    Writer: ``store.append``, in this process. Clips already in the store are skipped, so a killed run continues
    where it stopped; a clip that cannot be decoded fails alone (``on_failure`` and the summary) and is tried again
    by the next run.

    Args:
        model: The retriever, or its checkpoint folder; its model id must be the one ``store`` is named for (the
            caller's responsibility).
        items: Clips to embed.
        store: Where the vectors go.
        batch_size: Clips per forward pass and per shard.
        workers: Decoding threads (local runner).
        prefetch: Batches decoded ahead of the model (local runner).
        frame_loader: Replaces ``media.sample_frames`` (same signature).
        on_failure: Called with (clip, error) for each clip that failed.
        progress: Show a progress bar.
        ray: Run on Ray Data (``indexer.ray_engine``) instead of the local runner.

    Returns:
        The run's summary (done, skipped, failed, seconds, failures).
    """

    def write(batch: list[ClipItem], vectors: Sequence[np.ndarray]) -> None:
        store.append(np.array([c.clip_id for c in batch], dtype=np.int64), np.asarray(vectors))

    return run_stage(
        embed_stage(model, frame_loader=frame_loader),
        items,
        done=set(store.ids().tolist()),
        write=write,
        on_failure=on_failure,
        batch_size=batch_size,
        prefetch=prefetch,
        workers=workers,
        progress=progress,
        ray=ray,
    )

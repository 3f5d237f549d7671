"""Embedding shards: ``vectors/<model_id>/shard-*.npz`` files of clip ids and float32 vectors, appended atomically.

Each shard holds ``ids`` (int64, N) and ``vectors`` (float32, N x D, L2-normalised by the encoder). A shard is
written under a ``.tmp-`` name, fsynced and renamed, so a run killed at any point leaves whole shards only; readers
ignore names starting with ``.``. A clip is in at most one shard (writers skip clips already stored); should two
shards hold the same id anyway (two embed runs at once), the newest shard's vector wins on load.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexer._arrays import check_pair

__all__ = ["SHARD_GLOB", "VectorStore"]

_log = logging.getLogger(__name__)

SHARD_GLOB = "shard-*.npz"


class VectorStore:
    """The shards of one model under ``<vectors_dir>/<model_id>/`` (the folder is created on the first append)."""

    def __init__(self, vectors_dir: str | Path, model_id: str) -> None:
        if not model_id or "/" in model_id or model_id.startswith("."):
            raise ValueError(f"model_id {model_id!r} is not a valid folder name")
        self.model_id = model_id
        self.path = Path(vectors_dir) / model_id

    def shards(self) -> list[Path]:
        """Complete shard files, oldest first (names sort by creation time)."""
        if not self.path.is_dir():
            return []
        return sorted(self.path.glob(SHARD_GLOB))

    def append(self, ids: np.ndarray, vectors: np.ndarray) -> Path | None:
        """Write one shard atomically; returns its path (None for an empty batch).

        Raises:
            ValueError: on mismatched lengths, repeated or negative ids, non-float vectors, or a dimension that
                differs from the shards already stored.
        """
        ids, vectors = check_pair(ids, vectors, None)
        if len(ids) == 0:
            return None
        dim = self.dim()
        if dim is not None and vectors.shape[1] != dim:
            raise ValueError(
                f"vectors of dimension {vectors.shape[1]} do not fit {self.path} (dimension {dim}): "
                "a model id names one model; delete the folder to start over"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        name = f"shard-{now:%Y%m%dT%H%M%S}.{now:%f}Z-{secrets.token_hex(3)}.npz"
        tmp = self.path / f".tmp-{name}"
        try:
            with open(tmp, "wb") as f:
                np.savez(f, ids=ids, vectors=np.ascontiguousarray(vectors, dtype=np.float32))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _log.debug("wrote %s (%d vectors)", name, len(ids))
        return self.path / name

    def _read(self, shard: Path, *, with_vectors: bool) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            with np.load(shard, allow_pickle=False) as z:
                return z["ids"].astype(np.int64, copy=False), (z["vectors"] if with_vectors else None)
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"unreadable vector shard {shard}: {e}; delete it and run `adsearch embed` again") from e

    def dim(self) -> int | None:
        """Vector dimension of the stored shards (None when there are none)."""
        shards = self.shards()
        if not shards:
            return None
        _, vectors = self._read(shards[0], with_vectors=True)
        return int(vectors.shape[1])

    def ids(self) -> np.ndarray:
        """All stored clip ids (int64, unique, sorted)."""
        parts = [self._read(s, with_vectors=False)[0] for s in self.shards()]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)

    def load(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` of the stored clips, sorted by id, optionally only those in ``ids``.

        Returns:
            int64 (N,) and float32 (N, D); empty arrays when nothing is stored.
        """
        all_ids, all_vecs = [], []
        for shard in self.shards():
            sid, svec = self._read(shard, with_vectors=True)
            all_ids.append(sid)
            all_vecs.append(svec)
        if not all_ids:
            return np.empty(0, np.int64), np.empty((0, 0), np.float32)
        cat_ids = np.concatenate(all_ids)
        cat_vecs = np.concatenate(all_vecs).astype(np.float32, copy=False)
        # newest shard wins: unique over the reversed order keeps each id's last occurrence
        rev_ids = cat_ids[::-1]
        uniq, first = np.unique(rev_ids, return_index=True)
        rows = len(cat_ids) - 1 - first
        out_ids, out_vecs = uniq, cat_vecs[rows]
        if ids is not None:
            keep = np.isin(out_ids, np.asarray(ids, dtype=np.int64))
            out_ids, out_vecs = out_ids[keep], out_vecs[keep]
        return out_ids, np.ascontiguousarray(out_vecs)

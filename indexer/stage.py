"""A clip stage as every engine runs it: what is read per clip, which model maps a batch, how results travel.

A ``ClipStage`` holds the per-item functions of one stage (embed, OCR, ...) and nothing about the engine:

* ``read(item) -> X`` decodes one clip (CPU); under Ray it runs in CPU tasks, so it must pickle (a top-level
  function or a frozen dataclass, not a closure over an open file or database);
* ``load() -> map_batch`` loads the model once per process (the local runner) or once per actor (Ray) and returns
  ``map_batch([X, ...]) -> [Y, ...]``; under Ray it is pickled to the actors, so a loader that reads a checkpoint
  folder ships a path, not the weights;
* ``to_columns`` / ``from_columns`` turn a batch of outputs into Arrow columns and back: how results are written
  as Parquet shards by the Ray engine (the default pickles each output into one binary column ``output``).

``run_stage`` runs a stage with the local runner (``indexer.runner.run_clips``, the default) or, given
``RayOptions``, with Ray Data (``indexer.ray_engine``). Both skip the keys in ``done``, hand every batch of results
to the same ``write(items, outputs)`` and record per-item failures through the same ``FailureRules``, so a catalog
gives the same vectors and texts whichever engine ran it. Items are dataclasses with an int ``clip_id``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from indexer.runner import MAX_MAP_FAILURES, RunSummary, run_clips

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ClipStage", "RayOptions", "clip_key", "from_pickled", "from_texts", "run_stage", "to_pickled", "to_texts"]

T = TypeVar("T")  # an item: a dataclass with an int clip_id
X = TypeVar("X")  # what read returns for one item
Y = TypeVar("Y")  # what map_batch returns for one item


def clip_key(item: Any) -> int:
    """The key of every stage's items: their ``clip_id``."""
    return int(item.clip_id)


def to_pickled(outputs: Sequence[Any]) -> dict[str, pa.Array]:
    """The default result columns: each output pickled into the binary column ``output``."""
    import pyarrow as pa

    return {"output": pa.array([pickle.dumps(y, protocol=5) for y in outputs], pa.binary())}


def from_pickled(table: pa.Table) -> list[Any]:
    """The outputs of ``to_pickled`` columns (shards written by this workspace's own runs)."""
    return [pickle.loads(b) for b in table.column("output").to_pylist()]


def to_texts(outputs: Sequence[str]) -> dict[str, pa.Array]:
    """Result columns of a stage whose outputs are strings (captions): the column ``text``."""
    import pyarrow as pa

    return {"text": pa.array(list(outputs), pa.string())}


def from_texts(table: pa.Table) -> list[str]:
    """The outputs of ``to_texts`` columns."""
    return table.column("text").to_pylist()


@dataclass(frozen=True)
class ClipStage(Generic[T, X, Y]):
    """The per-item functions of one stage; see the module docstring."""

    desc: str  # what runs, e.g. "embed tiny-1234abcd" (progress bar, summary line)
    read: Callable[[T], X]
    load: Callable[[], Callable[[list[X]], Sequence[Y]]]
    to_columns: Callable[[Sequence[Y]], dict[str, pa.Array]] = to_pickled
    from_columns: Callable[[pa.Table], list[Y]] = from_pickled


@dataclass(frozen=True)
class RayOptions:
    """How the Ray Data engine runs a stage (``indexer.ray_engine``).

    Attributes:
        work_dir: The stage's folder for the result shards not yet committed; the same folder on every run of the
            stage (a re-run commits what a crashed one left there). On a multi-node cluster it must be on storage
            every node sees, like the videos.
        address: The cluster (``ray.init(address=...)``, e.g. ``ray://head:10001`` or ``auto``); None connects to
            the Ray already initialised in this process or starts a local one for the run.
        actors: Model actors (default: one per GPU of the cluster, else one per ``actor_cpus`` of its CPUs; see
            ``ray_engine.plan_actors``).
        actor_cpus: CPUs each model actor reserves on a CPU-only cluster, and so its model's threads (default 1).
        decode: Where clips are decoded: "actor" (each model actor decodes its own batches; the default on a
            CPU-only cluster) or "tasks" (CPU tasks ahead of the actors; the default with GPUs). None: the default.
        decode_cpus: CPUs each decoding task reserves (``decode="tasks"``).
        local_cpus: CPUs of the local Ray started when there is none (None: all of this machine's).
    """

    work_dir: Path
    address: str | None = None
    actors: int | None = None
    actor_cpus: float | None = None
    decode: str | None = None
    decode_cpus: float = 0.25
    local_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.decode not in (None, "actor", "tasks"):
            raise ValueError(f"decode must be 'actor', 'tasks' or None, got {self.decode!r}")


def run_stage(
    stage: ClipStage[T, X, Y],
    items: Sequence[T],
    *,
    done: Container[int],
    write: Callable[[list[T], Sequence[Y]], None],
    on_failure: Callable[[T, str], None] | None = None,
    batch_size: int = 16,
    workers: int = 2,
    prefetch: int = 2,
    progress: bool = False,
    max_map_failures: int = MAX_MAP_FAILURES,
    ray: RayOptions | None = None,
) -> RunSummary:
    """Run ``stage`` over the ``items`` whose ``clip_id`` is not in ``done``: the local runner, or Ray Data when
    ``ray`` is given. ``write`` gets each batch's items and outputs (in the calling process, batch by batch);
    ``on_failure`` each failed item with its error text.

    Args:
        stage: What to read and map.
        items: Clips to process (dataclasses with ``clip_id``).
        done: Clip ids written by an earlier run (skipped).
        write: Stores a batch of results (vector shard, catalog rows); called in this process.
        on_failure: Called with (item, error) for each failed item.
        batch_size: Items per model call (and per shard / catalog write).
        workers: Local runner: decoding threads.
        prefetch: Local runner: batches decoded ahead of the model.
        progress: Progress bar.
        max_map_failures: Batches in a row whose model call raised before the run stops with ``ModelError``.
        ray: Run on Ray Data with these options (``pip install adsearch[ray]``).

    Returns:
        The run's ``RunSummary``.

    Raises:
        ModelError: the model failed every batch, or ``max_map_failures`` in a row (``ray_engine.RayRunError``,
            a subclass, when the Ray pipeline itself failed).
        ImportError: ``ray`` given and Ray is not installed (the message says how to install it).
    """
    if ray is not None:
        from indexer.ray_engine import run_ray

        return run_ray(
            stage,
            items,
            done=done,
            write=write,
            on_failure=on_failure,
            options=ray,
            batch_size=batch_size,
            progress=progress,
            max_map_failures=max_map_failures,
        )
    return run_clips(
        items,
        key=clip_key,
        done=done,
        read=stage.read,
        map_batch=stage.load(),
        write=write,
        on_failure=on_failure,
        batch_size=batch_size,
        prefetch=prefetch,
        workers=workers,
        progress=progress,
        desc=stage.desc,
        max_map_failures=max_map_failures,
    )

"""The Ray Data engine: a ``ClipStage`` (``indexer.stage``) run on a Ray cluster, committed like the local runner.

```
pending clips ──► ray.data.from_arrow (clip rows from the driver: clip_id + the item as JSON; blocks of whole batches)
  ──► decode: stage.read (a failed read becomes the row's error; the batch goes on), where the plan puts it:
        CPU-only cluster: inside the model actor, before its model call (one actor per CPU, each one core end to end)
        GPUs: in CPU tasks ahead of the GPU actors (their one CPU each is not enough to decode for a GPU)
  ──► model: an actor pool (map_batches with a callable class; num_gpus=1 per actor when the cluster has GPUs),
      each actor loads the model once (stage.load) and writes each mapped batch as one Parquet shard
      <work_dir>/results/shard-*.parquet (.tmp- name, fsync, rename: whole shards only)
  ──► driver: commits each shard as it arrives with the same write() and FailureRules as the local runner
      (vector store, catalog rows), then deletes it
```

Why decode sits in the actor on CPU: on one 2-core node, decode tasks beside one 1-CPU model actor leave one core
decoding and one running the model, with the decoded frames pickled through the object store in between; two
actors that each decode and embed their own batches keep both cores on the whole job
(``python -m benchmarks.speed --engines``; figures in docs/SCALE.md).

Recovery (nothing is lost, nothing is written twice):

* a worker lost (an actor or a decode task killed, a node gone): Ray restarts the actor and runs its task again
  (Ray Data's actor pools restart actors and retry their tasks); a batch written twice is committed once, because a
  commit skips the clip ids already in ``done``;
* the driver lost (killed, its machine gone): the shards the actors wrote stay in ``results/``; the next run first
  commits them (without running the model again), then runs only the clips that are still not done;
* a half-written shard: it has a ``.tmp-`` name and is never read; the next run deletes it and redoes its clips;
* a corrupt video: its read fails in the decode task, the row carries the error and the driver records it exactly
  as the local runner does (``FailureRules``); the rest of its batch goes on;
* the model failing: a batch whose model call raised is decided by the batches that follow, as in the local runner
  (``ModelError`` after ``max_map_failures`` in a row or when none mapped).

One run of a stage at a time per ``work_dir`` (a second would delete the first one's half-written shards). On a
multi-node cluster ``work_dir`` and the videos must be on storage that every node sees, and adsearch must be
installed on the nodes (the workers import ``indexer`` and the model's package).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import pickle
import secrets
import shutil
import time
from collections.abc import Callable, Container, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.runner import MAX_MAP_FAILURES, FailureRules, ModelError, RunSummary, error_text
from indexer.stage import ClipStage, RayOptions, clip_key
from media.progress import progress_bar

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["INSTALL_HINT", "ActorPlan", "RayRunError", "import_ray", "plan_actors", "run_ray"]

_log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray engine needs Ray Data: pip install 'adsearch[ray]' (or: pip install 'ray[data]')"
SHARD_GLOB = "shard-*.parquet"
MAX_INPUT_BLOCKS = 1024  # input blocks of one run; more rows make each block hold more batches
DEFAULT_ACTOR_CPUS = 1.0  # CPUs (and so model threads) of a model actor on a CPU-only cluster


class RayRunError(ModelError):
    """The Ray pipeline itself failed after Ray's own retries (an actor that cannot load the model, a cluster that
    went away). Shards committed before stay committed; run again to resume. Chained to Ray's error."""


def import_ray() -> Any:
    """``ray`` with Ray Data imported.

    Raises:
        ImportError: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
        import ray.data  # the engine's API
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return ray


@dataclasses.dataclass(frozen=True)
class ActorPlan:
    """How a stage runs on a cluster: ``actors`` model actors of ``cpus`` CPUs and ``gpus`` GPUs each, and whether
    they decode their own batches (``decode_in_actor``) or CPU tasks decode ahead of them."""

    actors: int
    cpus: float
    gpus: float
    decode_in_actor: bool


def plan_actors(resources: dict[str, float], options: RayOptions) -> ActorPlan:
    """The ``ActorPlan`` for a cluster's resources (``ray.cluster_resources()``).

    With GPUs: one actor per GPU (``num_gpus=1``, 1 CPU each), decoding in CPU tasks on the other CPUs. Without:
    actors of ``actor_cpus`` CPUs (default ``DEFAULT_ACTOR_CPUS``; Ray gives the actor's process as many intra-op
    threads, ``OMP_NUM_THREADS``) that decode their own batches, as many as the cluster's CPUs hold; when
    ``options.decode`` asks for decode tasks on a CPU-only cluster, one CPU stays free for them. ``options.actors``
    overrides the count.
    """
    gpus = int(resources.get("GPU", 0))
    in_actor = options.decode == "actor" if options.decode else gpus < 1
    if gpus >= 1:
        return ActorPlan(options.actors or gpus, options.actor_cpus or 1.0, 1.0, in_actor)
    cpus = float(resources.get("CPU", 1.0))
    free = 0.0 if in_actor else 1.0
    actor_cpus = min(options.actor_cpus or DEFAULT_ACTOR_CPUS, max(cpus - free, 0.25))
    actors = options.actors or max(1, int((cpus - free + 1e-9) // actor_cpus))
    return ActorPlan(actors, actor_cpus, 0.0, in_actor)


# --- what runs in the workers ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Decode:
    """Decoding: rows (clip_id, item JSON) -> (clip_id, pickled input or null, error or null). Runs as CPU tasks
    (``map_batches``), or inside the model actor (``read``: the inputs themselves, not pickled)."""

    read: Callable[[Any], Any]
    item_type: type

    def read_rows(self, batch: pa.Table) -> tuple[list[int], list[Any], list[str | None]]:
        """(clip ids, inputs (None where the read failed), errors (None where it worked)) of a batch of rows."""
        keys, inputs, errors = [], [], []
        for key, item_json in zip(batch["clip_id"].to_pylist(), batch["item"].to_pylist(), strict=True):
            keys.append(key)
            try:
                inputs.append(self.read(self.item_type(**json.loads(item_json))))
                errors.append(None)
            except Exception as e:  # one unreadable clip fails alone, recorded by the driver
                inputs.append(None)
                errors.append(error_text(e))
        return keys, inputs, errors

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        keys, inputs, errors = self.read_rows(batch)
        blobs = [None if e is not None else pickle.dumps(x, protocol=5) for x, e in zip(inputs, errors, strict=True)]
        return pa.table(
            {
                "clip_id": pa.array(keys, pa.int64()),
                "input": pa.array(blobs, pa.large_binary()),
                "error": pa.array(errors, pa.string()),
            }
        )


def _write_shard(table: pa.Table, results_dir: Path) -> str:
    """Write ``table`` as a whole shard: a ``.tmp-`` file, fsynced, renamed. Returns the shard's path."""
    import pyarrow.parquet as pq

    now = datetime.now(UTC)
    name = f"shard-{now:%Y%m%dT%H%M%S}.{now:%f}Z-{secrets.token_hex(4)}.parquet"
    tmp = results_dir / f".tmp-{name}"
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, results_dir / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return str(results_dir / name)


class _ModelActor:
    """Model actor: loads the stage's model once, maps each batch (decoding its rows first when ``decode`` is
    given, else taking the rows the decode tasks made), writes the batch as one shard and returns (shard path,
    rows). A failed model call is written as the batch's ``map_error``."""

    def __init__(
        self,
        load: Callable[[], Callable[[list], Sequence]],
        to_columns: Callable,
        results_dir: str,
        decode: _Decode | None = None,
    ):
        self.map_batch = load()
        self.to_columns = to_columns
        self.results_dir = Path(results_dir)
        self.decode = decode

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        if self.decode is not None:
            keys, decoded, errors = self.decode.read_rows(batch)
        else:
            keys, errors = batch["clip_id"].to_pylist(), batch["error"].to_pylist()
            blobs = batch["input"].to_pylist()
            decoded = [None if e is not None else pickle.loads(b) for b, e in zip(blobs, errors, strict=True)]
        ok = [i for i, e in enumerate(errors) if e is None]
        columns: dict[str, pa.Array] = {}
        map_error = None
        if ok:
            inputs = [decoded[i] for i in ok]
            try:
                outputs = self.map_batch(inputs)
            except Exception as e:  # decided by the driver, as the local runner decides
                map_error = error_text(e)
            else:
                if len(outputs) != len(inputs):  # a bug of the mapper, not of one item: the run fails
                    raise ValueError(f"map_batch returned {len(outputs)} outputs for {len(inputs)} inputs")
                columns = self.to_columns(outputs)
        bad = [i for i, e in enumerate(errors) if e is not None]
        parts = [
            pa.table({"clip_id": pa.array([keys[i] for i in ok], pa.int64()), **columns}),
            pa.table(
                {
                    "clip_id": pa.array([keys[i] for i in bad], pa.int64()),
                    "error": pa.array([errors[i] for i in bad], pa.string()),
                }
            ),
        ]
        table = pa.concat_tables(parts, promote_options="default")
        if "error" not in table.column_names:
            table = table.append_column("error", pa.nulls(len(table), pa.string()))
        table = table.append_column("batch", pa.array([secrets.token_hex(8)] * len(table), pa.string()))
        table = table.append_column("map_error", pa.array([map_error] * len(table), pa.string()))
        shard = _write_shard(table, self.results_dir)
        return pa.table({"shard": [shard], "rows": pa.array([len(table)], pa.int64())})


# --- the driver ----------------------------------------------------------------------------------------------------


class _Committer:
    """Commits result shards on the driver: the same ``write`` and ``FailureRules`` as the local runner."""

    def __init__(self, stage: ClipStage, by_key: dict[int, Any], done: set[int], write: Callable, rules: FailureRules):
        self.stage, self.by_key, self.done, self.write, self.rules = stage, by_key, done, write, rules
        self.rows_seen = 0  # rows of this run's shards committed (for "more batches to come")
        self.expected = 0  # rows this run sends through the pipeline

    def commit(self, shard: Path, *, recovering: bool = False) -> int:
        """Commit one shard, delete it, return its rows. ``recovering``: a shard left by an earlier run: only its
        results are committed (its failed items are not done, so this run tries them again)."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        table = pq.read_table(shard)
        batches = table.column("batch").to_pylist()
        for batch_id in dict.fromkeys(batches):  # model batches in shard order
            rows = table.filter(pc.equal(table["batch"], batch_id))
            self._commit_batch(rows, recovering=recovering)
        shard.unlink(missing_ok=True)
        return len(table)

    def _commit_batch(self, rows: pa.Table, *, recovering: bool) -> None:
        import pyarrow.compute as pc

        if not recovering:
            self.rows_seen += len(rows)
        keys = rows["clip_id"].to_pylist()
        errors = rows["error"].to_pylist()
        map_error = rows["map_error"][0].as_py()
        summary = self.rules.summary
        if not recovering:
            for key, error in zip(keys, errors, strict=True):
                if error is not None and key in self.by_key and key not in self.done:
                    self.rules.item_failed(self.by_key[key], error)
        ok = rows.filter(pc.is_null(rows["error"]))
        if len(ok) == 0:
            return
        if map_error is not None:
            if not recovering:
                items = [self.by_key[k] for k in ok["clip_id"].to_pylist() if k in self.by_key]
                self.rules.batch_failed(items, map_error, more=self.rows_seen < self.expected)
            return
        outputs = self.stage.from_columns(ok)
        fresh = [
            (self.by_key[k], y)
            for k, y in zip(ok["clip_id"].to_pylist(), outputs, strict=True)
            if k in self.by_key and k not in self.done
        ]
        if fresh:
            t0 = time.perf_counter()
            self.write([it for it, _ in fresh], [y for _, y in fresh])
            summary.write_s += time.perf_counter() - t0
            summary.done += len(fresh)
            self.done.update(clip_key(it) for it, _ in fresh)
        if not recovering:
            self.rules.batch_mapped()


def _input_blocks(items: Sequence[Any], batch_size: int) -> list[pa.Table]:
    """The clip rows to run, as Arrow tables of whole batches (at most ``MAX_INPUT_BLOCKS``): clip_id and the item
    as JSON (rebuilt where it is decoded)."""
    import pyarrow as pa

    table = pa.table(
        {
            "clip_id": pa.array([clip_key(it) for it in items], pa.int64()),
            "item": pa.array([json.dumps(dataclasses.asdict(it)) for it in items], pa.string()),
        }
    )
    per_block = batch_size * math.ceil(len(items) / batch_size / MAX_INPUT_BLOCKS)
    return [table.slice(start, per_block) for start in range(0, len(items), per_block)]


def run_ray(
    stage: ClipStage,
    items: Sequence[Any],
    *,
    done: Container[int],
    write: Callable[[list, Sequence], None],
    options: RayOptions,
    on_failure: Callable[[Any, str], None] | None = None,
    batch_size: int = 16,
    progress: bool = False,
    max_map_failures: int = MAX_MAP_FAILURES,
) -> RunSummary:
    """Run ``stage`` over the ``items`` not in ``done`` on Ray Data; see the module docstring and
    ``indexer.stage.run_stage`` (the same contract as the local runner).

    Raises:
        ImportError: Ray is not installed.
        ValueError: a batch size or ``max_map_failures`` under 1, or items of different types.
        ModelError: the model failed every batch, or ``max_map_failures`` in a row.
        RayRunError: the Ray pipeline failed (after Ray's retries).
    """
    if batch_size < 1 or max_map_failures < 1:
        raise ValueError(f"batch_size and max_map_failures must be >= 1, got {batch_size}, {max_map_failures}")
    if len({type(it) for it in items}) > 1:
        raise ValueError("items of one run must be of one type")
    t0 = time.perf_counter()
    by_key = {clip_key(it): it for it in items}
    done_now = {k for k in by_key if k in done}
    summary = RunSummary(skipped=len(done_now), desc=f"{stage.desc} (ray)")
    rules = FailureRules(summary, clip_key, on_failure, max_map_failures)
    committer = _Committer(stage, by_key, done_now, write, rules)
    work = Path(options.work_dir)
    results = work / "results"
    results.mkdir(parents=True, exist_ok=True)
    for stale in results.glob(".tmp-*"):
        stale.unlink(missing_ok=True)  # half-written shards: their clips are not done, so they run again below
    if (work / "input").is_dir():
        shutil.rmtree(work / "input")  # clip rows exported by an earlier version of this engine
    for shard in sorted(results.glob(SHARD_GLOB)):  # results a crashed run wrote and did not commit
        committer.commit(shard, recovering=True)
    if summary.done:
        _log.info("%s: committed %d results an earlier run left in %s", summary.desc, summary.done, results)
    pending = [it for it in items if clip_key(it) not in done_now]
    if not pending:
        summary.seconds = time.perf_counter() - t0
        return summary
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=options.address,
            num_cpus=options.local_cpus if options.address is None else None,
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    bar = progress_bar(total=len(pending), desc=summary.desc, unit="item", enabled=progress)
    try:
        committer.expected = len(pending)
        ds = _pipeline(ray, stage, _input_blocks(pending, batch_size), results, type(pending[0]), options, batch_size)
        t_map = time.perf_counter()
        rows = iter(ds.iter_rows())  # one row per shard, as the actors finish batches
        try:
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    break
                except Exception as e:  # Ray's, after its own retries (write and commit errors pass as they are)
                    raise RayRunError(
                        f"{summary.desc}: the Ray pipeline failed: {error_text(e)}. {summary.done} items were "
                        "committed before; run again to resume",
                        summary,
                    ) from e
                bar.update(committer.commit(Path(row["shard"])))
                if summary.failed:
                    bar.set_postfix(failed=summary.failed, refresh=False)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:  # a run stopped early (ModelError, a write error) stops its pipeline too
                close()
        summary.map_s = time.perf_counter() - t_map - summary.write_s  # the pipeline, as the driver waited for it
        rules.finish()
    finally:
        bar.close()
        if started:
            ray.shutdown()
        summary.seconds = time.perf_counter() - t0
    _log.info("%s", summary.line())
    return summary


def _pipeline(
    ray: Any,
    stage: ClipStage,
    blocks: list[pa.Table],
    results: Path,
    item_type: type,
    options: RayOptions,
    batch_size: int,
) -> Any:
    """clip rows -> [decode tasks ->] model actor pool (decodes when the plan says so; writes shards) -> one row per
    shard."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the driver shows one bar of committed items
    plan = plan_actors(ray.cluster_resources(), options)
    _log.info(
        "ray: %d model actor(s), %.2f CPU and %.0f GPU each, decoding %s",
        plan.actors,
        plan.cpus,
        plan.gpus,
        "in the actors" if plan.decode_in_actor else "in CPU tasks",
    )
    decode = _Decode(stage.read, item_type)
    ds = ray.data.from_arrow(blocks)
    if not plan.decode_in_actor:
        ds = ds.map_batches(decode, batch_size=batch_size, batch_format="pyarrow", num_cpus=options.decode_cpus)
    return ds.map_batches(
        _ModelActor,
        fn_constructor_args=(stage.load, stage.to_columns, str(results), decode if plan.decode_in_actor else None),
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
        num_cpus=plan.cpus,
        num_gpus=plan.gpus or None,
    )

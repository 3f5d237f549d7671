"""The read -> map -> write runner that embeds and captions clips (in the style of clip-retrieval's runner).

``run_clips`` knows nothing of files, models or the catalog: the caller passes three functions.

* ``read(item) -> X`` decodes one clip (e.g. sampled frames). It runs ahead of the model in a pool of threads
  (decord and FFmpeg release the GIL while decoding), ``prefetch`` batches in advance, so ``map_batch`` does not
  wait for decoding while there is work left.
* ``map_batch([X, ...]) -> [Y, ...]`` runs the model on one batch, in the calling thread.
* ``write([item, ...], [Y, ...])`` stores one batch's results (a vector shard, catalog rows). It is called once per
  batch, right after the batch is mapped, so a run that is killed loses at most the batch in flight: run again
  with ``done`` holding the keys already written and it continues where it stopped.

Failures are per item: an exception in ``read`` fails that item only (the rest of its batch goes on), reported
through ``on_failure`` and in the summary. An exception in ``map_batch`` is the model's: when a later batch maps
fine, the items of the failed batch fail (reported the same way) and the run goes on; when it fails
``max_map_failures`` batches in a row, or every batch of the run, the model or its setup is broken, not the items:
the run stops with ``ModelError`` (non-zero exit in the CLI) and those items are not reported as failed, so the
next run tries them again. An exception in ``write`` stops the run (a full disk or a closed database fails every
batch alike). Batches written before a stop stay written.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Container, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from media.progress import progress_bar

__all__ = ["MAX_MAP_FAILURES", "FailureRules", "ModelError", "RunSummary", "error_text", "run_clips"]

_log = logging.getLogger(__name__)

T = TypeVar("T")  # an item (e.g. a ClipItem)
X = TypeVar("X")  # what read returns for one item (e.g. frames)
Y = TypeVar("Y")  # what map_batch returns for one item (e.g. a vector, a caption)

_MAX_FAILURES_KEPT = 1000  # failures listed in the summary; the count stays exact beyond it
MAX_MAP_FAILURES = 3  # batches in a row whose map_batch raised before the run stops with ModelError


@dataclass
class RunSummary:
    """What a run did: counts, failures and time spent in each stage."""

    done: int = 0  # items read, mapped and written in this run
    skipped: int = 0  # items whose key was already in ``done`` (written by an earlier run)
    failed: int = 0  # items whose read or map raised
    seconds: float = 0.0  # wall time of the whole run
    failures: list[tuple[int, str]] = field(default_factory=list)  # (key, error) of failed items, first 1000
    desc: str = ""  # what ran, for ``line()``
    wait_s: float = 0.0  # time the model waited for decoded items (read not keeping up)
    map_s: float = 0.0  # time in map_batch
    write_s: float = 0.0  # time in write

    @property
    def items_per_s(self) -> float:
        """Items done per second of wall time."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def record(self) -> dict[str, Any]:
        """The counts, the wall time and the failures, as a ``runs`` row's summary stores them."""
        return {
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "failures": [[key, err] for key, err in self.failures],
        }

    def line(self) -> str:
        """One human line: counts, time, throughput and where the time went."""
        return (
            f"{self.desc or 'run'}: {self.done} done, {self.skipped} skipped (done before), {self.failed} failed "
            f"in {self.seconds:.1f} s ({self.items_per_s:.1f} items/s; waiting for reads {self.wait_s:.1f} s, "
            f"map {self.map_s:.1f} s, write {self.write_s:.1f} s)"
        )


class ModelError(RuntimeError):
    """``map_batch`` failed on ``max_map_failures`` batches in a row or on every batch of a run: the model (or its
    setup: weights, device, memory) is broken, not the items. Chained to the last error (``__cause__``).

    Attributes:
        summary: The run so far (items written before the stop stay written; the failed batches' items are not
            counted as failed).
    """

    def __init__(self, message: str, summary: RunSummary):
        super().__init__(message)
        self.summary = summary


def error_text(e: BaseException) -> str:
    """How a failure is recorded: the exception's type and the first line of its message."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


class FailureRules(Generic[T]):
    """The failure rules of a run, shared by every engine (this module's ``run_clips``, ``indexer.ray_engine``):
    an item fails alone (counted, listed, logged, ``on_failure``); a batch whose model call raised is decided by
    the batches that follow (see the module docstring).

    Args:
        summary: The run's summary, updated in place.
        key: The item's id.
        on_failure: Called with (item, error text) for each failed item.
        max_map_failures: Batches in a row whose model call raised before the run stops with ``ModelError``.
    """

    def __init__(
        self,
        summary: RunSummary,
        key: Callable[[T], int],
        on_failure: Callable[[T, str], None] | None = None,
        max_map_failures: int = MAX_MAP_FAILURES,
    ) -> None:
        self.summary = summary
        self.key = key
        self.on_failure = on_failure
        self.max_map_failures = max_map_failures
        # batches whose model call raised since the last one that mapped: (items, error text, exception or None)
        self._map_failed: list[tuple[list[T], str, BaseException | None]] = []

    def item_failed(self, item: T, error: str) -> None:
        """One item failed (its read raised, or its batch's model call when a later batch mapped)."""
        s = self.summary
        s.failed += 1
        if len(s.failures) < _MAX_FAILURES_KEPT:
            s.failures.append((self.key(item), error))
        _log.warning("%s: item %s failed: %s", s.desc or "run", self.key(item), error)
        if self.on_failure is not None:
            self.on_failure(item, error)

    def batch_failed(self, items: list[T], error: str, exc: BaseException | None = None, *, more: bool = True) -> None:
        """The model call of a batch raised (``error``: ``error_text`` of it; ``exc`` when it is at hand).

        Raises:
            ModelError: the ``max_map_failures``-th batch in a row.
        """
        self._map_failed.append((items, error, exc))
        _log.warning("%s: the model failed on a batch of %d: %s", self.summary.desc or "run", len(items), error)
        if len(self._map_failed) >= self.max_map_failures:
            self._raise(every=self.summary.done == 0 and not more)

    def batch_mapped(self) -> None:
        """A batch mapped: the model works, so the failed batches' items fail alone."""
        for items, error, _ in self._map_failed:
            for item in items:
                self.item_failed(item, error)
        self._map_failed.clear()

    def finish(self) -> None:
        """The end of the run.

        Raises:
            ModelError: batches failed and not one mapped.
        """
        if self._map_failed:
            if self.summary.done == 0:  # not one batch mapped: the model, not the items
                self._raise(every=True)
            self.batch_mapped()

    def _raise(self, *, every: bool) -> None:
        s = self.summary
        _, error, exc = self._map_failed[-1]
        n_items = sum(len(b) for b, _, _ in self._map_failed)
        scope = "every batch of the run" if every else f"{len(self._map_failed)} batches in a row"
        raise ModelError(
            f"{s.desc or 'run'}: the model failed on {scope} ({n_items} items): {error}. "
            f"{s.done} items were written before; those of the failed batches are not marked failed, "
            "so the next run tries them again",
            s,
        ) from exc


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_clips(
    items: Sequence[T],
    *,
    key: Callable[[T], int],
    done: Container[int],
    read: Callable[[T], X],
    map_batch: Callable[[list[X]], Sequence[Y]],
    write: Callable[[list[T], Sequence[Y]], None],
    on_failure: Callable[[T, str], None] | None = None,
    batch_size: int = 32,
    prefetch: int = 2,
    workers: int = 2,
    progress: bool = False,
    desc: str = "",
    max_map_failures: int = MAX_MAP_FAILURES,
) -> RunSummary:
    """Read, map and write ``items`` in batches, skipping those already done; see the module docstring.

    Args:
        items: What to process (e.g. clips), in order.
        key: The item's id (e.g. clip id); items whose key is in ``done`` are skipped.
        done: Keys already written by an earlier run.
        read: Loads one item's input; runs in worker threads.
        map_batch: Turns a batch of inputs into one output per input (same length and order).
        write: Stores a batch of items with their outputs; called once per mapped batch, in the calling thread.
        on_failure: Called with (item, error text) for each failed item, in the calling thread (e.g. to record it).
        batch_size: Items per ``map_batch`` call.
        prefetch: Batches read ahead of the one being mapped (>= 0; 0 still reads the current batch in workers).
        workers: Reader threads.
        progress: Show a progress bar.
        desc: Name of the run for the progress bar and ``RunSummary.line()``.
        max_map_failures: Batches in a row whose ``map_batch`` raised before the run stops with ``ModelError``.

    Returns:
        A ``RunSummary``.

    Raises:
        ModelError: ``map_batch`` raised on ``max_map_failures`` batches in a row, or on every batch of the run.
        ValueError: on a non-positive batch size, worker count or ``max_map_failures``, a negative prefetch, or
            when ``map_batch`` returns a different number of outputs than inputs (a bug of the mapper, not of one
            item).
        Exception: whatever ``write`` raises (the run stops; earlier batches stay written).
    """
    if batch_size < 1 or workers < 1 or prefetch < 0 or max_map_failures < 1:
        raise ValueError(
            "batch_size, workers and max_map_failures must be >= 1 and prefetch >= 0, "
            f"got {batch_size}, {workers}, {max_map_failures}, {prefetch}"
        )
    t0 = time.perf_counter()
    pending = [item for item in items if key(item) not in done]
    summary = RunSummary(skipped=len(items) - len(pending), desc=desc)

    rules = FailureRules(summary, key, on_failure, max_map_failures)
    fail = rules.item_failed

    in_flight: deque[tuple[list[T], list[Future]]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-clips-read")
    bar = progress_bar(total=len(pending), desc=desc or "run", unit="item", enabled=progress)
    try:
        batches = _batches(pending, batch_size)

        def submit_next() -> None:
            batch = next(batches, None)
            if batch is not None:
                in_flight.append((batch, [pool.submit(read, item) for item in batch]))

        for _ in range(prefetch + 1):
            submit_next()
        while in_flight:
            batch, futures = in_flight.popleft()
            submit_next()  # keep `prefetch` batches decoding while this one is mapped
            ok_items: list[T] = []
            inputs: list[X] = []
            t_wait = time.perf_counter()
            for item, fut in zip(batch, futures, strict=True):
                try:
                    inputs.append(fut.result())
                    ok_items.append(item)
                except Exception as e:  # one unreadable item fails alone
                    fail(item, error_text(e))
            summary.wait_s += time.perf_counter() - t_wait
            if ok_items:
                t_map = time.perf_counter()
                try:
                    outputs = map_batch(inputs)
                except Exception as e:  # the model failed on this batch: decided by the batches that follow
                    outputs = None
                    rules.batch_failed(ok_items, error_text(e), e, more=bool(in_flight))
                summary.map_s += time.perf_counter() - t_map
                if outputs is not None:
                    rules.batch_mapped()
                    if len(outputs) != len(ok_items):
                        raise ValueError(f"map_batch returned {len(outputs)} outputs for {len(ok_items)} inputs")
                    t_write = time.perf_counter()
                    write(ok_items, outputs)
                    summary.write_s += time.perf_counter() - t_write
                    summary.done += len(ok_items)
            if summary.failed:
                bar.set_postfix(failed=summary.failed, refresh=False)
            bar.update(len(batch))
        rules.finish()
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)  # an interrupted run does not leave readers behind
        summary.seconds = time.perf_counter() - t0
    _log.info("%s", summary.line())
    return summary

"""The read -> map -> write runner that embeds and captions clips (in the style of clip-retrieval's runner).

``run_clips`` knows nothing of files, models or the catalog: the caller passes three functions.

* ``read(item) -> X`` decodes one clip (e.g. sampled frames). It runs ahead of the model in a pool of threads
  (decord and FFmpeg release the GIL while decoding), ``prefetch`` batches in advance, so ``map_batch`` does not
  wait for decoding while there is work left.
* ``map_batch([X, ...]) -> [Y, ...]`` runs the model on one batch, in the calling thread.
* ``write([item, ...], [Y, ...])`` stores one batch's results (a vector shard, catalog rows). It is called once per
  batch, right after the batch is mapped, so a run that is killed loses at most the batch in flight: run again
  with ``done`` holding the keys already written and it continues where it stopped.

Failures are per item: an exception in ``read`` fails that item only (the rest of its batch goes on); an exception
in ``map_batch`` fails the items of that batch. Both are reported through ``on_failure`` and in the summary. An
exception in ``write`` stops the run (a full disk or a closed database fails every batch alike); the batches
written before it stay written.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Container, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm import tqdm

__all__ = ["RunSummary", "run_clips"]

_log = logging.getLogger(__name__)

T = TypeVar("T")  # an item (e.g. a ClipItem)
X = TypeVar("X")  # what read returns for one item (e.g. frames)
Y = TypeVar("Y")  # what map_batch returns for one item (e.g. a vector, a caption)

_MAX_FAILURES_KEPT = 1000  # failures listed in the summary; the count stays exact beyond it


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

    def line(self) -> str:
        """One human line: counts, time, throughput and where the time went."""
        return (
            f"{self.desc or 'run'}: {self.done} done, {self.skipped} skipped (done before), {self.failed} failed "
            f"in {self.seconds:.1f} s ({self.items_per_s:.1f} items/s; waiting for reads {self.wait_s:.1f} s, "
            f"map {self.map_s:.1f} s, write {self.write_s:.1f} s)"
        )


def _error_text(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


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

    Returns:
        A ``RunSummary``.

    Raises:
        ValueError: on a non-positive batch size or worker count, a negative prefetch, or when ``map_batch``
            returns a different number of outputs than inputs (a bug of the mapper, not of one item).
        Exception: whatever ``write`` raises (the run stops; earlier batches stay written).
    """
    if batch_size < 1 or workers < 1 or prefetch < 0:
        raise ValueError(
            f"batch_size and workers must be >= 1 and prefetch >= 0, got {batch_size}, {workers}, {prefetch}"
        )
    t0 = time.perf_counter()
    pending = [item for item in items if key(item) not in done]
    summary = RunSummary(skipped=len(items) - len(pending), desc=desc)

    def fail(item: T, error: str) -> None:
        summary.failed += 1
        if len(summary.failures) < _MAX_FAILURES_KEPT:
            summary.failures.append((key(item), error))
        _log.warning("%s: item %s failed: %s", desc or "run", key(item), error)
        if on_failure is not None:
            on_failure(item, error)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-clips-read")
    bar = tqdm(total=len(pending), desc=desc or "run", unit="item", disable=not progress)
    try:
        batches = _batches(pending, batch_size)
        in_flight: deque[tuple[list[T], list[Future]]] = deque()

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
                    fail(item, _error_text(e))
            summary.wait_s += time.perf_counter() - t_wait
            if ok_items:
                t_map = time.perf_counter()
                try:
                    outputs = map_batch(inputs)
                except Exception as e:  # the model failed on this batch: its items fail, the run goes on
                    outputs = None
                    for item in ok_items:
                        fail(item, _error_text(e))
                summary.map_s += time.perf_counter() - t_map
                if outputs is not None:
                    if len(outputs) != len(ok_items):
                        raise ValueError(f"map_batch returned {len(outputs)} outputs for {len(ok_items)} inputs")
                    t_write = time.perf_counter()
                    write(ok_items, outputs)
                    summary.write_s += time.perf_counter() - t_write
                    summary.done += len(ok_items)
            bar.update(len(batch))
            if summary.failed:
                bar.set_postfix(failed=summary.failed, refresh=False)
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)  # an interrupted run does not leave readers behind
        summary.seconds = time.perf_counter() - t0
    _log.info("%s", summary.line())
    return summary

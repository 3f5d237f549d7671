"""The read -> map -> write runner: skipping, per-item failures, one write per batch, resume, read-ahead."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.runner import ModelError, RunSummary, run_clips
from media import sample_frames


class Interrupted(Exception):
    """Stands for the process being killed while writing."""


def _square_all(xs: list[int]) -> list[int]:
    return [x * x for x in xs]


def test_skips_done_and_writes_once_per_batch() -> None:
    writes: list[tuple[list[int], list[int]]] = []
    summary = run_clips(
        list(range(10)),
        key=lambda i: i,
        done={0, 3},
        read=lambda i: i + 1,
        map_batch=_square_all,
        write=lambda items, ys: writes.append((list(items), list(ys))),
        batch_size=3,
    )
    assert summary.done == 8 and summary.skipped == 2 and summary.failed == 0
    assert [items for items, _ in writes] == [[1, 2, 4], [5, 6, 7], [8, 9]]
    assert writes[0][1] == [4, 9, 25]  # outputs stay aligned with their items
    assert "8 done, 2 skipped" in summary.line() and "items/s" in summary.line()


def test_read_failure_fails_that_item_only() -> None:
    def read(i: int) -> int:
        if i == 4:
            raise OSError("cannot decode clip 4")
        return i

    reported: list[tuple[int, str]] = []
    written: list[int] = []
    summary = run_clips(
        list(range(8)),
        key=lambda i: i,
        done=set(),
        read=read,
        map_batch=_square_all,
        write=lambda items, ys: written.extend(items),
        on_failure=lambda item, err: reported.append((item, err)),
        batch_size=4,
    )
    assert written == [0, 1, 2, 3, 5, 6, 7]  # the rest of clip 4's batch went on
    assert summary.failed == 1 and summary.failures == [(4, "OSError: cannot decode clip 4")]
    assert reported == [(4, "OSError: cannot decode clip 4")]


def test_map_failure_fails_its_batch() -> None:
    def map_batch(xs: list[int]) -> list[int]:
        if 5 in xs:
            raise RuntimeError("model blew up")
        return xs

    written: list[int] = []
    summary = run_clips(
        list(range(9)),
        key=lambda i: i,
        done=(),
        read=lambda i: i,
        map_batch=map_batch,
        write=lambda items, ys: written.extend(items),
        batch_size=3,
    )
    assert written == [0, 1, 2, 6, 7, 8]
    assert sorted(k for k, _ in summary.failures) == [3, 4, 5]
    assert all(err == "RuntimeError: model blew up" for _, err in summary.failures)


def test_a_model_that_fails_every_batch_stops_the_run() -> None:
    calls: list[list[int]] = []

    def map_batch(xs: list[int]) -> list[int]:
        calls.append(xs)
        raise RuntimeError("weights do not fit the config")

    reported: list[int] = []
    with pytest.raises(ModelError, match=r"3 batches in a row .*weights do not fit") as info:
        run_clips(
            list(range(40)),
            key=lambda i: i,
            done=(),
            read=lambda i: i,
            map_batch=map_batch,
            write=lambda items, ys: None,
            on_failure=lambda item, err: reported.append(item),
            batch_size=4,
        )
    assert len(calls) == 3  # stopped at the third failed batch, not after all ten
    assert isinstance(info.value.__cause__, RuntimeError)
    assert reported == [] and info.value.summary.failed == 0  # the items are not to blame: the next run retries them


def test_a_model_that_fails_the_only_batches_stops_the_run() -> None:
    def map_batch(xs: list[int]) -> list[int]:
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(ModelError, match="every batch of the run"):
        run_clips([1, 2, 3], key=int, done=(), read=int, map_batch=map_batch, write=lambda a, b: None, batch_size=2)


def test_failed_batches_count_as_failed_items_once_a_later_batch_maps() -> None:
    def map_batch(xs: list[int]) -> list[int]:
        if xs[0] < 6:  # the first two batches fail, then the model works
            raise RuntimeError("flaky")
        return xs

    written: list[int] = []
    summary = run_clips(
        list(range(9)),
        key=lambda i: i,
        done=(),
        read=lambda i: i,
        map_batch=map_batch,
        write=lambda items, ys: written.extend(items),
        batch_size=3,
    )
    assert written == [6, 7, 8] and summary.done == 3
    assert [k for k, _ in summary.failures] == [0, 1, 2, 3, 4, 5]
    # and the same two failures at the end of a run that mapped before are items' failures too
    summary = run_clips(
        list(range(9)),
        key=lambda i: i,
        done=(),
        read=lambda i: i,
        map_batch=lambda xs: xs if xs[0] == 0 else 1 / 0,
        write=lambda items, ys: None,
        batch_size=3,
    )
    assert summary.done == 3 and summary.failed == 6


def test_resume_after_an_interrupted_write() -> None:
    store: dict[int, int] = {}
    calls = {"n": 0}

    def write(items: list[int], ys: list[int]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Interrupted
        store.update(zip(items, ys, strict=True))

    items = list(range(20))
    with pytest.raises(Interrupted):
        run_clips(
            items, key=lambda i: i, done=store, read=lambda i: i, map_batch=_square_all, write=write, batch_size=4
        )
    assert sorted(store) == list(range(8))  # the two batches written before the kill stay written

    read_again: list[int] = []

    def read(i: int) -> int:
        read_again.append(i)
        return i

    summary = run_clips(items, key=lambda i: i, done=store, read=read, map_batch=_square_all, write=write, batch_size=4)
    assert summary.skipped == 8 and summary.done == 12
    assert sorted(read_again) == list(range(8, 20))  # nothing done before is decoded again
    assert store == {i: i * i for i in items}


def test_reads_run_ahead_in_worker_threads() -> None:
    read_threads: set[str] = set()
    read_count = {"n": 0}
    lock = threading.Lock()
    seen_after_first_map: list[int] = []

    def read(i: int) -> int:
        with lock:
            read_threads.add(threading.current_thread().name)
            read_count["n"] += 1
        return i

    def map_batch(xs: list[int]) -> list[int]:
        if xs[0] == 0:
            time.sleep(0.3)  # the model is busy with batch 0: batch 1 must be decoded meanwhile
            with lock:
                seen_after_first_map.append(read_count["n"])
        return xs

    run_clips(
        list(range(12)),
        key=lambda i: i,
        done=set(),
        read=read,
        map_batch=map_batch,
        write=lambda items, ys: None,
        batch_size=4,
        prefetch=1,
    )
    assert threading.current_thread().name not in read_threads
    assert all(name.startswith("run-clips-read") for name in read_threads)
    assert seen_after_first_map[0] >= 8  # batches 0 and 1 were read by the time batch 0 was mapped


def test_real_videos_with_a_corrupt_file(tmp_path: Path, good_videos: list[Path]) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(good_videos[0].read_bytes()[:200])
    paths = [str(good_videos[0]), str(corrupt), str(good_videos[1])]
    shards: list[np.ndarray] = []
    summary = run_clips(
        paths,
        key=paths.index,
        done=set(),
        read=lambda p: sample_frames(p, 0.0, 1.0, n=3, size=16),
        map_batch=lambda frames: [f.astype(np.float32).mean(axis=(0, 1, 2)) for f in frames],
        write=lambda items, ys: shards.append(np.stack(ys)),
        batch_size=8,
    )
    assert isinstance(summary, RunSummary)
    assert summary.done == 2 and summary.failed == 1 and summary.failures[0][0] == 1
    assert shards[0].shape == (2, 3)
    assert not np.allclose(shards[0][0], shards[0][1])  # the two videos' colours were really decoded


def test_progress_off_a_terminal_is_log_lines(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADSEARCH_PROGRESS_INTERVAL", "0")  # a line at every batch
    with caplog.at_level(logging.INFO, logger="media.progress"):
        run_clips(
            list(range(8)),
            key=lambda i: i,
            done=(),
            read=lambda i: i if i != 5 else 1 / 0,
            map_batch=_square_all,
            write=lambda items, ys: None,
            batch_size=4,
            progress=True,
            desc="embed test",
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "media.progress"]
    assert [line.split(" (")[0] for line in lines] == ["embed test: 4/8 item", "embed test: 8/8 item"]
    assert lines[-1].endswith("failed=1")
    assert "\r" not in capsys.readouterr().err  # stderr is not a terminal here: no bar drawn


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        run_clips([1], key=int, done=set(), read=int, map_batch=list, write=lambda a, b: None, batch_size=0)
    with pytest.raises(ValueError, match="max_map_failures"):
        run_clips([1], key=int, done=set(), read=int, map_batch=list, write=lambda a, b: None, max_map_failures=0)

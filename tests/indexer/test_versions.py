"""Index versions on disk: round trip, atomic publish under SIGKILL, live hot swap, prune, model checks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import faiss
import numpy as np
import pytest

import indexer.versions as versions
from indexer.faiss_index import SearchParams, build_index, normalize, search
from indexer.tuning import tune_search_params
from indexer.versions import (
    ACTIVE_NAME,
    REBUILD_COMMAND,
    IndexMeta,
    LiveIndex,
    ModelMismatchError,
    active_version,
    list_versions,
    load_index,
    new_version_name,
    prune,
    publish,
    write_version,
)

REPO = Path(__file__).resolve().parents[2]
MODEL = "tiny-meanp-0123abcd"
K = 10

# Shared by the tests and the subprocess that gets killed: the data of "version built from seed s".
DATA_SRC = """
import numpy as np
def make_data(seed, n=3000, d=32):
    rng = np.random.default_rng(seed)
    ids = seed * 1_000_000 + rng.choice(10**6, size=n, replace=False).astype(np.int64)
    return ids, rng.standard_normal((n, d), dtype=np.float32)
"""
_ns: dict = {}
exec(DATA_SRC, _ns)
make_data = _ns["make_data"]

CHILD_SRC = (
    DATA_SRC
    + """
import os
import sys
import faiss
from indexer.faiss_index import SearchParams, build_index
from indexer.versions import IndexMeta, publish, write_version
faiss.omp_set_num_threads(1)
root, seed = sys.argv[1], int(sys.argv[2])
while True:
    ids, x = make_data(seed)
    index = build_index(ids, x)
    meta = IndexMeta.for_index(index, model_id=sys.argv[3], factory="IDMap2,Flat", params=SearchParams(),
                               catalog_snapshot=f"seed-{seed}", extra={"seed": seed})
    version = write_version(root, index, meta).name
    publish(root, sys.argv[3], version)
    os.write(1, f"published {version}\\n".encode())  # one write(2) of a whole line: a kill never splits it
    seed += 1
"""
)


pytestmark = pytest.mark.usefixtures("one_faiss_thread")


QUERIES = np.random.default_rng(99).standard_normal((20, 32), dtype=np.float32)


def expected_ids(seed: int) -> np.ndarray:
    """Exact top-k of the version built from ``seed`` (numpy brute force)."""
    ids, x = make_data(seed)
    order = np.argsort(-(normalize(QUERIES) @ normalize(x).T), axis=1, kind="stable")[:, :K]
    return ids[order]


def save(root: Path, seed: int, *, publish_it: bool = True, model_id: str = MODEL) -> str:
    ids, x = make_data(seed)
    index = build_index(ids, x)
    meta = IndexMeta.for_index(
        index,
        model_id=model_id,
        factory="IDMap2,Flat",
        params=SearchParams(),
        catalog_snapshot=f"seed-{seed}",
        extra={"seed": seed},
    )
    version = write_version(root, index, meta).name
    if publish_it:
        publish(root, model_id, version)
    return version


# ---------------------------------------------------------------------------------------------------------------
# metadata and names


def test_meta_json_round_trip_and_tolerance():
    meta = IndexMeta(
        model_id=MODEL,
        dim=32,
        factory="IVF64,Flat",
        n=5,
        catalog_snapshot="cat-1",
        nprobe=8,
        recall_at_10=0.97,
        extra={"catalogs": ["a", "b"]},
    )
    assert IndexMeta.from_json(meta.to_json()) == meta
    data = json.loads(meta.to_json())
    data["added_by_a_newer_writer"] = 1
    assert IndexMeta.from_json(json.dumps(data)) == meta
    with pytest.raises(ValueError, match="misses required keys \\['factory'\\]"):
        IndexMeta.from_json(json.dumps({k: v for k, v in data.items() if k != "factory"}))
    with pytest.raises(ValueError, match="format 99"):
        IndexMeta.from_json(json.dumps({**data, "format": 99}))
    assert meta.search_params == SearchParams(nprobe=8, recall_at_10=0.97)


def test_version_names_sort_by_time():
    t0 = datetime(2026, 11, 23, 17, 15, tzinfo=UTC)
    times = [t0 + timedelta(microseconds=us) for us in (0, 1, 999_999, 10**6, 10**9)]
    names = [new_version_name(t) for t in reversed(times)]
    assert sorted(names) == names[::-1]
    assert re.fullmatch(r"20261123T171500\.000000Z-[0-9a-f]{6}", new_version_name(t0))


@pytest.mark.parametrize("bad", ["../evil", "a/b", ".hidden", "", ACTIVE_NAME])
def test_unsafe_names_are_refused(tmp_path, bad):
    index = build_index(np.arange(3), np.eye(3, dtype=np.float32))
    meta = IndexMeta.for_index(index, model_id=MODEL, factory="IDMap2,Flat", params=SearchParams(), catalog_snapshot="")
    with pytest.raises(ValueError, match="not a valid directory name"):
        write_version(tmp_path, index, meta, version=bad)
    with pytest.raises(ValueError, match="not a valid directory name"):
        active_version(tmp_path, bad)


# ---------------------------------------------------------------------------------------------------------------
# write / publish / load


def test_write_publish_load_round_trip(tmp_path):
    ids, x = make_data(1)
    index = build_index(ids, x, factory="IVF16,Flat")
    params = tune_search_params(index, x, ids=ids, n_queries=100)
    meta = IndexMeta.for_index(
        index, model_id=MODEL, factory="IVF16,Flat", params=params, catalog_snapshot="cat-1", build_seconds=1.5
    )
    path = write_version(tmp_path, index, meta)
    assert path.parent == tmp_path / MODEL and active_version(tmp_path, MODEL) is None
    with pytest.raises(FileNotFoundError, match="no published index version"):
        load_index(tmp_path, MODEL)
    publish(tmp_path, MODEL, path.name)
    assert (tmp_path / MODEL / ACTIVE_NAME).read_text() == path.name + "\n"

    loaded = load_index(tmp_path, MODEL)
    assert loaded.version == path.name and loaded.meta.catalog_snapshot == "cat-1"
    assert loaded.meta.nprobe == params.nprobe == faiss.extract_index_ivf(loaded.index).nprobe  # params applied
    assert loaded.meta.index_type == "IndexIVFFlat" and loaded.meta.created_at.endswith("Z")
    for a, b in zip(loaded.search(QUERIES, K), search(index, QUERIES, K, params=params), strict=True):
        np.testing.assert_array_equal(a, b)

    (info,) = list_versions(tmp_path, MODEL)
    assert info.name == path.name and info.published and info.meta == loaded.meta
    assert info.size_bytes == (path / "index.faiss").stat().st_size + (path / "meta.json").stat().st_size > 0
    assert not [p for p in (tmp_path / MODEL).iterdir() if p.name.startswith(".")]  # no temporaries left
    with pytest.raises(FileExistsError):
        write_version(tmp_path, index, meta, version=path.name)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    save(tmp_path, 1)

    def broken(index, path):
        Path(path).write_bytes(b"half an ind")
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save(tmp_path, 2)
    assert [v.name for v in list_versions(tmp_path, MODEL)] == [active_version(tmp_path, MODEL)]
    assert not [p for p in (tmp_path / MODEL).iterdir() if p.name.startswith(".")]


def test_readers_ignore_leftovers_and_incomplete_versions(tmp_path):
    good = save(tmp_path, 1)
    model_dir = tmp_path / MODEL
    (model_dir / ".tmp-20991231T000000.000000Z-abcdef").mkdir()
    (model_dir / ".tmp-20991231T000000.000000Z-abcdef" / "index.faiss").write_bytes(b"partial")
    (model_dir / "20991231T000000.000000Z-123456").mkdir()  # a directory without its files
    assert [v.name for v in list_versions(tmp_path, MODEL)] == [good]
    with pytest.raises(FileNotFoundError, match="versions: \\['" + good):
        publish(tmp_path, MODEL, "20991231T000000.000000Z-123456")
    assert load_index(tmp_path, MODEL).version == good


def test_model_mismatch_names_both_ids_and_the_rebuild_command(tmp_path):
    save(tmp_path, 1)
    with pytest.raises(ModelMismatchError) as err:
        load_index(tmp_path, MODEL, expected_model_id="clipvip-b32-feedbeef")
    message = str(err.value)
    assert MODEL in message and "clipvip-b32-feedbeef" in message and REBUILD_COMMAND in message
    assert isinstance(err.value, ValueError)
    with pytest.raises(FileNotFoundError, match=f"indexes exist for \\['{MODEL}'\\].*{REBUILD_COMMAND}"):
        load_index(tmp_path, "clipvip-b32-feedbeef")


# ---------------------------------------------------------------------------------------------------------------
# crash safety


def test_sigkill_at_random_moments_never_breaks_the_published_version(tmp_path):
    """A build+publish loop in a subprocess is killed at random moments; what ACTIVE names always loads whole and
    answers exactly as the data it was built from, and no half-written version is ever listed."""
    first = save(tmp_path, 0)
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    published_by_child = 0
    for trial in range(8):
        before = active_version(tmp_path, MODEL)
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD_SRC, str(tmp_path), str(1000 * (trial + 1)), MODEL],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
            env=env,
            text=True,
        )
        try:
            line = child.stdout.readline()  # wait until it is busy in its loop
            assert line.startswith("published"), "the child died before publishing anything"
            last_reported = line.split()[1]
            time.sleep(rng.uniform(0.0, 0.08))  # then kill it somewhere in a build, a write or a publish
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        reported = [ln.split()[1] for ln in child.stdout.read().splitlines() if ln.startswith("published")]
        last_reported = reported[-1] if reported else last_reported
        published_by_child += 1 + len(reported)

        active = active_version(tmp_path, MODEL)
        assert active is not None and active >= last_reported > before  # never rolled back, never a stranger
        loaded = load_index(tmp_path, MODEL)
        np.testing.assert_array_equal(loaded.search(QUERIES, K)[1], expected_ids(loaded.meta.extra["seed"]))
        for info in list_versions(tmp_path, MODEL):  # every listed version is complete
            assert info.meta is not None
            assert load_index(tmp_path, MODEL, info.name).index.ntotal == info.meta.n
        prune(tmp_path, MODEL, keep=1, tmp_grace_s=0)  # the child is dead: its leftovers can go
        assert not [p for p in (tmp_path / MODEL).iterdir() if p.name.startswith(".")]
    assert published_by_child >= 8 and first not in {v.name for v in list_versions(tmp_path, MODEL)}


# ---------------------------------------------------------------------------------------------------------------
# live searcher


def test_live_index_swaps_versions_while_another_thread_searches(tmp_path):
    save(tmp_path, 0)
    live = LiveIndex(tmp_path, MODEL, check_interval_s=0.0)
    expected = {seed: expected_ids(seed) for seed in range(6)}
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher():
        try:
            while not stop.is_set():
                _, found = live.search(QUERIES, K)
                match = [s for s, e in expected.items() if np.array_equal(found, e)]
                assert len(match) == 1, "an answer that no published version gives"
                if not seen or seen[-1] != match[0]:
                    seen.append(match[0])
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=searcher)
    thread.start()
    try:
        for seed in range(1, 6):
            time.sleep(0.05)
            last = save(tmp_path, seed)
        deadline = time.monotonic() + 10
        while live.version != last and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.01)
        time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert live.version == last and seen[-1] == 5
    assert seen == sorted(seen) and len(seen) >= 2 and live.swaps >= 1


def test_a_search_in_flight_finishes_on_the_old_version(tmp_path, monkeypatch):
    old = save(tmp_path, 0)
    live = LiveIndex(tmp_path, MODEL, check_interval_s=3600)
    entered, release = threading.Event(), threading.Event()
    real_search = versions.search

    def slow_search(*args, **kwargs):
        entered.set()
        release.wait(10)
        return real_search(*args, **kwargs)

    monkeypatch.setattr(versions, "search", slow_search)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("ids", live.search(QUERIES, K)[1]))
    thread.start()
    assert entered.wait(10)
    new = save(tmp_path, 1)
    assert live.refresh(force=True) and live.version == new  # swapped while the search is in flight
    release.set()
    thread.join()
    np.testing.assert_array_equal(result["ids"], expected_ids(0))
    monkeypatch.setattr(versions, "search", real_search)
    np.testing.assert_array_equal(live.search(QUERIES, K)[1], expected_ids(1))
    assert old != new


def test_live_index_checks_active_at_most_every_interval(tmp_path):
    save(tmp_path, 0)
    now = [0.0]
    live = LiveIndex(tmp_path, MODEL, check_interval_s=5.0, clock=lambda: now[0])
    new = save(tmp_path, 1)
    np.testing.assert_array_equal(live.search(QUERIES, K)[1], expected_ids(0))  # not yet checked
    now[0] = 6.0
    np.testing.assert_array_equal(live.search(QUERIES, K)[1], expected_ids(1))
    assert live.version == new and live.swaps == 1


def test_live_index_keeps_serving_when_the_new_version_is_for_another_model(tmp_path, caplog):
    good = save(tmp_path, 0)
    live = LiveIndex(tmp_path, MODEL, check_interval_s=0.0)
    stranger = save(tmp_path, 1, publish_it=False, model_id="other-model")
    os.rename(tmp_path / "other-model" / stranger, tmp_path / MODEL / stranger)
    publish(tmp_path, MODEL, stranger)
    np.testing.assert_array_equal(live.search(QUERIES, K)[1], expected_ids(0))
    assert live.version == good and "other-model" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# prune


def test_prune_keeps_the_active_and_newest_versions_and_clears_stale_leftovers(tmp_path):
    names = [save(tmp_path, s, publish_it=False) for s in range(4)]
    publish(tmp_path, MODEL, names[1])
    model_dir = tmp_path / MODEL
    stale, fresh = model_dir / ".tmp-stale", model_dir / ".tmp-fresh"
    stale.mkdir()
    fresh.mkdir()
    stale_pointer = model_dir / ".ACTIVE.123-abcd.tmp"
    stale_pointer.write_text("x")
    hour_ago = time.time() - 3600
    for p in (stale, stale_pointer):
        os.utime(p, (hour_ago, hour_ago))

    deleted = prune(tmp_path, MODEL, keep=1)
    assert sorted(deleted) == sorted([names[0], names[2], stale.name, stale_pointer.name])
    assert [v.name for v in list_versions(tmp_path, MODEL)] == [names[1], names[3]]
    assert fresh.exists()  # may belong to a build still writing

    assert prune(tmp_path, MODEL, keep=0) == [names[3]]
    assert [v.name for v in list_versions(tmp_path, MODEL)] == [names[1]]
    assert load_index(tmp_path, MODEL).version == names[1]
    with pytest.raises(ValueError, match="keep must be >= 0"):
        prune(tmp_path, MODEL, keep=-1)

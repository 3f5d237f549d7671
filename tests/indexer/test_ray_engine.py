"""The Ray Data engine against the local runner on a tiny real workspace (h264 videos, DuckDB, a tiny retriever):
the same vectors and failures, a model actor killed mid-run, a driver killed mid-run and run again.

One local Ray (2 CPUs, no dashboard, loopback only) is shared by the module: starting one costs seconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adsearch.workspace import Workspace
from indexer.catalog import open_catalog
from indexer.embed import embed_clips, embed_stage
from indexer.ray_engine import ActorPlan, plan_actors
from indexer.runner import ModelError
from indexer.stage import RayOptions, run_stage
from indexer.vectors import VectorStore
from retrieval import ClipItem, read_checkpoint_meta

from .index_helpers import tiny_workspace
from .ray_helpers import Broken, DieOnce

ray = pytest.importorskip("ray", reason="the Ray engine needs ray[data] (pip install -e '.[dev]')")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module; its workers import this checkout's packages and the tests' helpers."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local cluster for this process and its children only
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return tiny_workspace(tmp_path_factory.mktemp("ray-ws"))


@pytest.fixture(scope="module")
def items(ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> list[ClipItem]:
    """The workspace's 12 clips and two that cannot be decoded (a missing file, a file of random bytes)."""
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.clips_with_texts()
    bad = tmp_path_factory.mktemp("bad") / "random.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    good = [ClipItem(r["clip_id"], r["path"], r["start_s"], r["end_s"]) for r in rows]
    return [
        *good[:5],
        ClipItem(7_000_001, str(bad.parent / "missing.mp4"), 0.0, 1.0),
        *good[5:],
        ClipItem(7_000_002, str(bad), 0.0, 1.0),
    ]


@pytest.fixture(scope="module")
def reference(ws: Workspace, items: list[ClipItem], tmp_path_factory: pytest.TempPathFactory):
    """The local runner's vectors and failures: what the Ray engine must reproduce."""
    store = VectorStore(tmp_path_factory.mktemp("local") / "vectors", "m")
    summary = embed_clips(ws.models_dir / "retriever-tiny", items, store, batch_size=4)
    assert summary.done == 12 and summary.failed == 2
    return store.load(), sorted(summary.failures)


def _ray_embed(ws: Workspace, items, root: Path, *, load_wrapper=None, address=None, decode=None, **kw):
    store = VectorStore(root / "vectors", "m")
    stage = embed_stage(ws.models_dir / "retriever-tiny")
    if load_wrapper is not None:
        stage = dataclasses.replace(stage, load=load_wrapper(stage.load))
    reported: list[tuple[int, str]] = []

    def write(batch, vectors):
        store.append(np.array([c.clip_id for c in batch], np.int64), np.asarray(vectors))

    summary = run_stage(
        stage,
        items,
        done=set(store.ids().tolist()),
        write=write,
        on_failure=lambda item, err: reported.append((item.clip_id, err)),
        batch_size=4,
        ray=RayOptions(work_dir=root / "ray", address=address, decode=decode),
        **kw,
    )
    return summary, store, reported


def _same_vectors(store: VectorStore, reference) -> None:
    (ref_ids, ref_vecs), _ = reference
    ids, vecs = store.load()
    assert ids.tolist() == ref_ids.tolist()
    # Float tolerance, not bit equality: the actor runs the same batches through the same code, but the model's
    # matmuls sum in an order that depends on the intra-op threads of the process (here both use 2 and the vectors
    # came out bit-identical, which the test does not require).
    np.testing.assert_allclose(vecs, ref_vecs, rtol=0, atol=1e-6)


def test_ray_gives_the_local_runners_vectors_and_failures(local_ray, ws, items, reference, tmp_path: Path) -> None:
    summary, store, reported = _ray_embed(ws, items, tmp_path)
    assert (summary.done, summary.failed, summary.skipped) == (12, 2, 0)
    _same_vectors(store, reference)
    _, ref_failures = reference
    assert sorted(summary.failures) == ref_failures  # same clips, same error texts as the local runner
    assert sorted(reported) == ref_failures
    assert not list((tmp_path / "ray" / "results").iterdir())  # every shard committed and removed
    again, _, _ = _ray_embed(ws, items, tmp_path)  # nothing left but the two broken clips, tried again
    assert (again.done, again.skipped, again.failed) == (0, 12, 2)


def test_decode_tasks_give_the_same_vectors_and_failures(local_ray, ws, items, reference, tmp_path: Path) -> None:
    # The GPU layout (decode in CPU tasks ahead of the model actors) forced on this CPU-only cluster; 5 good clips
    # and the 2 broken ones keep it short.
    some = [*items[:6], items[-1]]
    summary, store, reported = _ray_embed(ws, some, tmp_path, decode="tasks")
    assert (summary.done, summary.failed) == (5, 2)
    (ref_ids, ref_vecs), ref_failures = reference
    ids, vecs = store.load()
    keep = np.isin(ref_ids, ids)
    assert ids.tolist() == ref_ids[keep].tolist() and len(ids) == 5
    np.testing.assert_allclose(vecs, ref_vecs[keep], rtol=0, atol=1e-6)
    assert sorted(reported) == ref_failures


def test_plan_actors_from_the_cluster() -> None:
    opts = RayOptions(Path("w"))
    # CPU only: one 1-CPU actor per CPU, each decoding its own batches
    assert plan_actors({"CPU": 2.0}, opts) == ActorPlan(2, 1.0, 0.0, True)
    assert plan_actors({"CPU": 8.0}, RayOptions(Path("w"), actor_cpus=4)) == ActorPlan(2, 4.0, 0.0, True)
    # decode tasks asked for: one CPU stays free for them
    assert plan_actors({"CPU": 2.0}, RayOptions(Path("w"), decode="tasks")) == ActorPlan(1, 1.0, 0.0, False)
    # GPUs: one actor per GPU, decoding in CPU tasks
    assert plan_actors({"CPU": 32.0, "GPU": 4.0}, opts) == ActorPlan(4, 1.0, 1.0, False)
    with pytest.raises(ValueError, match="decode must be"):
        RayOptions(Path("w"), decode="gpu")


def test_a_model_actor_killed_mid_run_loses_nothing(local_ray, ws, items, reference, tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    summary, store, _ = _ray_embed(ws, items, tmp_path, load_wrapper=lambda load: DieOnce(load, str(marker)))
    assert marker.is_file()  # the actor did die (SIGKILL on its second batch); Ray restarted it and ran it again
    assert (summary.done, summary.failed) == (12, 2)
    _same_vectors(store, reference)
    shard_ids = np.concatenate([np.load(s)["ids"] for s in store.shards()])
    assert len(shard_ids) == len(set(shard_ids.tolist())) == 12  # each clip committed once


def test_a_model_that_fails_every_batch_stops_the_ray_run_as_the_local_one(
    local_ray, ws, items, reference, tmp_path
) -> None:
    with pytest.raises(ModelError, match=r"the model failed on .*weights do not fit") as info:
        _ray_embed(ws, items, tmp_path, load_wrapper=lambda load: Broken())
    summary = info.value.summary
    # Only unreadable clips are recorded as failed: those decoded before the run stopped (decode tasks run ahead of
    # the model in Ray's pipeline, so how many of the two were reached depends on scheduling).
    _, ref_failures = reference
    assert summary.done == 0 and set(summary.failures) <= set(ref_failures) and summary.failed == len(summary.failures)
    assert not VectorStore(tmp_path / "vectors", "m").shards()  # nothing committed; the next run tries them all


_DRIVER = """
import os, signal, sys
import numpy as np
from pathlib import Path
from retrieval import ClipItem, read_checkpoint_meta
from indexer.embed import embed_stage
from indexer.stage import RayOptions, run_stage
from indexer.vectors import VectorStore

model, root, address, *rows = sys.argv[1:]
items = [ClipItem(int(c), p, float(s), float(e)) for c, p, s, e in (r.split("|") for r in rows)]
store = VectorStore(Path(root) / "vectors", "m")

def write(batch, vectors):  # the driver dies right after its first commit, before it deletes the shard
    store.append(np.array([c.clip_id for c in batch], np.int64), np.asarray(vectors))
    os.kill(os.getpid(), signal.SIGKILL)

run_stage(embed_stage(model), items, done=set(store.ids().tolist()), write=write, batch_size=4,
          ray=RayOptions(work_dir=Path(root) / "ray", address=address))
"""


def test_a_driver_killed_mid_run_resumes_where_it_stopped(local_ray, ws, items, reference, tmp_path: Path) -> None:
    rows = [f"{it.clip_id}|{it.path}|{it.start_s}|{it.end_s}" for it in items]
    model = str(ws.models_dir / "retriever-tiny")
    driver = subprocess.run(
        [sys.executable, "-c", _DRIVER, model, str(tmp_path), local_ray, *rows],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
    )
    assert driver.returncode == -signal.SIGKILL, driver.stderr.decode()[-3000:]
    store = VectorStore(tmp_path / "vectors", "m")
    committed = len(store.ids())
    assert 0 < committed < 12 and len(store.shards()) == 1
    assert list((tmp_path / "ray" / "results").glob("shard-*"))  # at least the shard it committed and kept
    summary, store, _ = _ray_embed(ws, items, tmp_path)
    assert summary.skipped == committed  # what the killed driver committed is not run again
    assert summary.done == 12 - committed and summary.failed == 2
    _same_vectors(store, reference)
    shard_ids = np.concatenate([np.load(s)["ids"] for s in store.shards()])
    assert len(shard_ids) == 12  # the shard committed before the kill was not committed twice
    assert not list((tmp_path / "ray" / "results").glob("*"))  # what the dead driver left is committed and gone


def test_ray_missing_is_a_clear_error(monkeypatch, ws, items, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r"pip install 'adsearch\[ray\]'"):
        _ray_embed(ws, items[:2], tmp_path)


def _texts(ws: Workspace, kind: str) -> list[tuple]:
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query("SELECT clip_id, text, source, meta FROM texts WHERE kind = ? ORDER BY clip_id", [kind])
    return [(r["clip_id"], r["text"], r["source"], r["meta"]) for r in rows]


def test_ocr_on_both_engines_writes_the_same_texts(local_ray, ws, tmp_path: Path) -> None:
    from adsearch.ocr import ocr_catalog

    copies = {}
    for engine in ("local", "ray"):
        copies[engine] = Workspace(shutil.copytree(ws.root, tmp_path / engine))
        summary = ocr_catalog(copies[engine], engine=engine, progress=False)
        assert (summary.done, summary.failed) == (12, 0), summary.line()
    local, on_ray = _texts(copies["local"], "ocr"), _texts(copies["ray"], "ocr")
    assert len(local) == 12 and on_ray == local  # text, source and meta (lines, boxes, frames read) alike


def test_cli_embed_on_ray(local_ray, ws, reference, tmp_path: Path, capsys) -> None:
    from adsearch.cli import main

    copy = Workspace(shutil.copytree(ws.root, tmp_path / "ws"))
    assert main(["--workspace", str(copy.root), "embed", "--engine", "local", "--ray-address", "auto"]) == 2
    assert "--ray-address needs --engine ray" in capsys.readouterr().err
    assert main(["--workspace", str(copy.root), "embed", "--engine", "ray", "--batch-size", "4"]) == 0
    assert "12 done" in capsys.readouterr().out
    (ref_ids, ref_vecs), _ = reference
    model_id = read_checkpoint_meta(copy.models_dir / "retriever-tiny")["model_id"]
    ids, vecs = VectorStore(copy.vectors_dir, model_id).load()
    assert ids.tolist() == ref_ids.tolist()
    np.testing.assert_allclose(vecs, ref_vecs, rtol=0, atol=1e-6)
    with open_catalog(copy.catalog_path, read_only=True) as cat:
        runs = cat.query("SELECT summary FROM runs WHERE command = 'embed'")
    assert [json.loads(r["summary"])["engine"] for r in runs] == ["ray"]


@pytest.mark.parametrize("kind", ["fine", "general"])
def test_captions_on_both_engines_are_the_same(local_ray, kind, tmp_path_factory) -> None:
    from adsearch.captioner import caption_catalog
    from tests.adsearch.captioner_workspace import trained_workspace

    root, _ = trained_workspace(tmp_path_factory, f"ray-captions-{kind}")
    texts = {}
    for engine in ("local", "ray"):
        copy = Workspace(shutil.copytree(root, tmp_path_factory.mktemp(f"{kind}-{engine}") / "ws", symlinks=True))
        summary = caption_catalog(copy, kind, split="test", max_new_tokens=8, progress=False, engine=engine)
        assert summary.done > 0 and summary.failed == 0, summary.line()
        texts[engine] = _texts(copy, kind)
    generated = [t for t in texts["local"] if t[2] != "reference"]
    assert generated and texts["ray"] == texts["local"]  # greedy decoding (and reranking for fine) alike

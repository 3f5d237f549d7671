"""``python -m benchmarks.speed --engines``: embedding the catalog with the local runner and with Ray Data, side by
side in one run on this machine.

Both engines embed the same clips (the workspace's catalog, ``--clips`` of them, default all) with the same
retriever checkpoint and batch size into fresh vector stores in a temporary folder (the workspace's own vectors are
not touched), one after the other. Timed per engine, wall clock:

* local: loading the retriever in this process + ``indexer.embed.embed_clips`` (reader threads, the model here),
  once with torch's default intra-op threads (one per core) and once with as many threads as a Ray model actor
  gets (its CPUs: 1 by default), so that the engine's own overhead is compared like for like; ``adsearch embed``
  runs the local runner on ``adsearch.index.local_model_threads()`` (the cores less one: 1 on 2 cores);
* ray: ``embed_clips(..., ray=...)``: the clip rows sent, decoding, the model actor pool (its start and model load
  included) and the commits; starting the local Ray (``ray.init``) is timed apart (a cluster is started once and
  serves many runs) and reported both ways: the ratio without it and the ratio with it counted.

Reports clips/s of each, the ratio to the fastest local row, the largest difference between the two engines'
vectors, and the machine's load average; writes ``speed_engines.json`` / ``.md`` under ``<workspace>/bench``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._report import markdown_table, write_report

__all__ = ["run_engines"]

COLUMNS = [
    ("engine", lambda r: r["engine"]),
    ("clips", lambda r: r["clips"]),
    ("failed", lambda r: r["failed"]),
    ("seconds", lambda r: r["seconds"]),
    ("clips/s", lambda r: r["clips_per_s"]),
    ("x best local", lambda r: r["ratio_to_local"]),
    ("cluster start s", lambda r: r.get("cluster_start_s")),
    ("x best local, start counted", lambda r: r.get("ratio_to_local_with_start")),
    ("setup", lambda r: r["setup"]),
]


def run_engines(args: argparse.Namespace) -> int:
    """The ``--engines`` benchmark (see the module docstring); returns the exit status."""
    import ray
    import torch

    from adsearch.index import _clip_items, checkpoint_dir, load_retriever, local_model_threads
    from adsearch.workspace import Workspace
    from indexer.embed import embed_clips
    from indexer.ray_engine import plan_actors
    from indexer.stage import RayOptions
    from indexer.vectors import VectorStore

    ws = Workspace.resolve(args.workspace)
    out = args.out or ws.bench_dir
    items = _clip_items(ws, None, None)[: args.clips]
    path = checkpoint_dir(ws, args.model)
    load0 = os.getloadavg()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="speed-engines-") as tmp:
        local_store, ray_store = VectorStore(Path(tmp) / "local", "m"), VectorStore(Path(tmp) / "ray", "m")
        default_threads = torch.get_num_threads()
        actor_threads = max(1, int(plan_actors({"CPU": float(os.cpu_count() or 1)}, RayOptions(Path(tmp))).cpus))
        for threads in dict.fromkeys([default_threads, actor_threads]):
            torch.set_num_threads(threads)
            store = local_store if threads == default_threads else VectorStore(Path(tmp) / f"local-{threads}", "m")
            t0 = time.perf_counter()
            net = load_retriever(ws, args.model)
            summary = embed_clips(net, items, store, batch_size=args.batch_size, workers=args.workers)
            local_s = time.perf_counter() - t0
            setup = f"{args.workers} reader threads, model in this process on {threads} torch thread(s)"
            setup += " (torch's default)" if threads == default_threads else ""
            setup += " (adsearch embed's default)" if threads == local_model_threads() else ""
            rows.append(_row("local", summary, local_s, setup))
            print(f"local ({threads} torch threads): {summary.line()}", flush=True)
        torch.set_num_threads(default_threads)

        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING")
        start_s = time.perf_counter() - t0
        try:
            options = RayOptions(work_dir=Path(tmp) / "ray-work", decode=args.ray_decode)
            plan = plan_actors(ray.cluster_resources(), options)
            t0 = time.perf_counter()
            summary = embed_clips(path, items, ray_store, batch_size=args.batch_size, ray=options)
            ray_s = time.perf_counter() - t0
        finally:
            ray.shutdown()
        where = "decoding in the actors" if plan.decode_in_actor else "decoding in CPU tasks"
        setup = (
            f"local Ray, {os.cpu_count()} CPUs; {plan.actors} model actor(s) of {plan.cpus:g} CPU "
            f"({max(1, int(plan.cpus))} torch thread(s) each), {where}"
        )
        rows.append(_row("ray", summary, ray_s, setup, cluster_start_s=start_s))
        print(f"ray:   {summary.line()}", flush=True)
        (a_ids, a), (b_ids, b) = local_store.load(), ray_store.load()
        same_ids = a_ids.tolist() == b_ids.tolist()
        max_diff = float(np.abs(a - b).max()) if same_ids and len(a) else None
    best = max(x["clips_per_s"] for x in rows if x["engine"] == "local")
    for r in rows:  # to the local runner's fastest row; Ray also with its cluster start counted
        r["ratio_to_local"] = r["clips_per_s"] / best if best else None
        if "cluster_start_s" in r:
            with_start = r["clips"] / (r["seconds"] + r["cluster_start_s"])
            r["ratio_to_local_with_start"] = with_start / best if best else None
    table = markdown_table(rows, COLUMNS)
    result = {
        "benchmark": "speed --engines",
        "command": " ".join(["python -m benchmarks.speed", *(args.argv or [])]),
        "workspace": str(ws.root),
        "model": str(path),
        "batch_size": args.batch_size,
        "clips": len(items),
        "same_clip_ids": same_ids,
        "max_abs_vector_difference": max_diff,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "ray": ray.__version__,
            "loadavg_start": load0,
            "loadavg_end": os.getloadavg(),
        },
        "rows": rows,
    }
    json_path, md_path = write_report(out, "speed_engines", result, table)
    print()
    print(table)
    print(f"\nvectors: same clip ids {same_ids}, largest difference {max_diff}")
    print(f"load average {load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print(f"wrote {json_path} and {md_path}")
    return 0


def _row(engine: str, summary: Any, seconds: float, setup: str, **extra: Any) -> dict[str, Any]:
    return {
        "engine": engine,
        "clips": summary.done,
        "failed": summary.failed,
        "seconds": round(seconds, 2),
        "clips_per_s": summary.done / seconds if seconds > 0 else 0.0,
        "setup": setup,
        **extra,
    }


if __name__ == "__main__":  # python -m benchmarks.speed_engines is python -m benchmarks.speed --engines
    from benchmarks.speed import main

    sys.exit(main(["--engines", *sys.argv[1:]]))

"""Index speed at catalog scale: build time, memory, throughput, latency and recall@10 of FAISS index types.

    python -m benchmarks.speed --index --sizes 100000 1000000 --dim 256 --out workspace/bench

For each size: seeded synthetic embeddings (a Gaussian mixture on the unit sphere, see ``sphere_mixture``) with
held-out queries from the same distribution; exact ``Flat`` gives the ground truth. Each candidate index (the type
``choose_factory`` picks at that size plus alternatives: IVF-Flat, HNSW32, IVF-PQ re-ranked by SQ8, OPQ + IVF-PQ)
is built with ``indexer.faiss_index.build_index``, tuned to recall@10 >= 0.96 on one query set (a margin over 0.95
for the sampling error) and measured on another: single-query and batch-of-64 latency (p50/p99) and queries per
second, recall@10 against exact search, speed-up over Flat, and filtered search (1% and 10% of the ids allowed,
through the FAISS ID selector) against exact filtered search. Writes ``speed_index.json`` and ``speed_index.md``
under ``--out`` and prints the table.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from benchmarks._report import markdown_table, write_report
from benchmarks.speed_serve import QUERY_SETS
from indexer.faiss_index import (
    EXACT_MAX,
    IVF_MAX,
    SearchParams,
    build_index,
    choose_factory,
    describe_index,
    search,
)
from indexer.tuning import recall_at_k, tune_search_params

__all__ = ["candidate_factories", "main", "sphere_mixture"]

K = 10
BATCH = 64
TYPES = ("flat", "ivf", "hnsw", "ivfpq-refine", "opq-ivfpq")


def sphere_mixture(
    n: int,
    dim: int,
    *,
    seed: int,
    n_clusters: int = 100,
    center_weight: float = 0.5,
    alpha: float = 1.0,
    chunk: int = 131_072,
) -> np.ndarray:
    """``n`` unit vectors from a Gaussian mixture on the sphere, float32 (N, dim).

    Each row is ``normalize(center_weight · c + z)``: ``c`` one of ``n_clusters`` random unit centres, ``z`` a
    Gaussian whose covariance has a power-law spectrum (eigenvalue ``i^-alpha``, unit expected norm) in a random
    rotation. Like real embeddings, the data is clustered with a few dominant directions, and neighbourhoods cut
    across clusters: IVF then needs tens of probed lists for recall 0.95 (uniform data is unrealistically hard,
    well-separated blobs unrealistically easy).
    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    scale = np.arange(1, dim + 1, dtype=np.float32) ** np.float32(-alpha / 2)
    scale /= np.linalg.norm(scale)
    rot = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        z = (rng.standard_normal((stop - start, dim), dtype=np.float32) * scale) @ rot
        z += np.float32(center_weight) * centers[rng.integers(0, n_clusters, stop - start)]
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        out[start:stop] = z
    return out


def candidate_factories(n: int, dim: int, types: Sequence[str] | None = None) -> dict[str, str]:
    """Factory string of each candidate type at size ``n``; None picks the default set (see ``--types``)."""
    nlist = 2 ** round(math.log2(4 * math.sqrt(n)))
    m = dim // 4 if dim % 8 == 0 else 2 * (dim // 8)
    opq_m = max(2, dim // 16)  # OPQ{m}_{4m}: rotate and reduce to 4m dims, m bytes per vector
    factories = {
        "flat": "IDMap2,Flat",
        "ivf": f"IVF{nlist},Flat",
        "hnsw": "IDMap2,HNSW32",
        "ivfpq-refine": f"IDMap2,IVF{nlist},PQ{m}x4fsr,Refine(SQ8)",
        "opq-ivfpq": f"OPQ{opq_m}_{4 * opq_m},IVF{nlist},PQ{opq_m}np",  # np: no polysemous training (minutes)
    }
    if types is None:
        # HNSW32 at 1M+ vectors takes longer to build on 2 cores than the whole rest of the run: opt in with --types.
        types = [t for t in TYPES if not (t == "hnsw" and n >= IVF_MAX)]
    unknown = set(types) - set(TYPES)
    if unknown:
        raise ValueError(f"unknown index types {sorted(unknown)}; choose from {list(TYPES)}")
    return {t: factories[t] for t in types}


def _rss_bytes() -> int:
    _trim_heap()
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: peak RSS is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _trim_heap() -> None:
    # Hand memory freed by earlier indexes back to the OS, so RSS deltas measure the index being built.
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _serialized_bytes(index: faiss.Index, tmp_dir: Path) -> int:
    fd, path = tempfile.mkstemp(suffix=".faiss", dir=tmp_dir)
    os.close(fd)
    try:
        faiss.write_index(index, path)
        return os.path.getsize(path)
    finally:
        os.unlink(path)


def _latency(index: faiss.Index, queries: np.ndarray, batch: int, params: SearchParams | None, allowed=None):
    """Run ``queries`` in batches of ``batch``; returns (ids, per-call seconds)."""
    search(index, queries[:batch], K, params=params, allowed_ids=allowed)  # warm-up: page faults, thread pool
    found, seconds = [], []
    for start in range(0, len(queries), batch):
        t0 = time.perf_counter()
        _, ids = search(index, queries[start : start + batch], K, params=params, allowed_ids=allowed)
        seconds.append(time.perf_counter() - t0)
        found.append(ids)
    return np.concatenate(found), np.asarray(seconds)


def _stats(seconds: np.ndarray, n_queries: int) -> dict[str, float]:
    return {
        "qps": n_queries / float(seconds.sum()),
        "p50_ms": float(np.percentile(seconds, 50) * 1e3),
        "p99_ms": float(np.percentile(seconds, 99) * 1e3),
    }


def bench_size(n: int, args: argparse.Namespace, tmp_dir: Path) -> list[dict[str, Any]]:
    """Every candidate at size ``n``: one result row each, Flat first."""
    dim, seed = args.dim, args.seed
    t0 = time.perf_counter()
    x = sphere_mixture(n + args.queries + args.tune_queries, dim, seed=seed)
    eval_q, tune_q, x = x[n : n + args.queries], x[n + args.queries :], x[:n]
    rng = np.random.default_rng(seed + 1)
    ids = rng.choice(2**62, size=n, replace=False).astype(np.int64)
    filters = {f"{s:g}": np.sort(rng.choice(ids, size=max(1, round(s * n)), replace=False)) for s in (0.01, 0.1)}
    print(f"[{n:,}] data: {n:,} x {dim} + {len(eval_q)} + {len(tune_q)} queries in {time.perf_counter() - t0:.1f} s")

    chosen = choose_factory(n, dim)
    factories = candidate_factories(n, dim, args.types)
    if "flat" not in factories:
        factories = {"flat": "IDMap2,Flat", **factories}  # the ground truth
    single = args.single_queries if n < IVF_MAX else max(20, args.single_queries // 2)
    filter_q = eval_q[: args.filter_queries]
    rows: list[dict[str, Any]] = []
    truth: dict[str, np.ndarray] = {}
    flat_row: dict[str, Any] = {}
    for kind, factory in factories.items():
        rss0, t_build = _rss_bytes(), time.perf_counter()
        index = build_index(ids, x, factory=factory, seed=seed)
        build_s = time.perf_counter() - t_build
        rss_delta = _rss_bytes() - rss0
        if kind == "flat":
            params = SearchParams(recall_at_10=1.0)
            truth["eval"] = search(index, eval_q, K)[1]
            truth["tune"] = search(index, tune_q, K)[1]
            for name, allowed in filters.items():
                truth[name] = search(index, filter_q, K, allowed_ids=allowed)[1]
        else:
            params = tune_search_params(
                index, None, ids=None, queries=tune_q, true_ids=truth["tune"], target_recall=args.target
            )
        found, batch_s = _latency(index, eval_q, BATCH, params)
        faiss.omp_set_num_threads(args.single_threads)
        _, single_s = _latency(index, eval_q[:single], 1, params)
        row: dict[str, Any] = {
            "n": n,
            "kind": kind,
            "factory": factory,
            "chosen": factory == chosen or (kind == "flat" and chosen == "IDMap2,Flat"),
            "index_type": describe_index(index),
            "build_s": build_s,
            "bytes": _serialized_bytes(index, tmp_dir),
            "rss_delta_bytes": rss_delta,
            "params": {k: v for k, v in params.to_dict().items() if v is not None and k != "recall_at_10"},
            "tune_recall_at_10": params.recall_at_10,
            "recall_at_10": recall_at_k(found, truth["eval"]),
            "single": _stats(single_s, single),
            "batch": _stats(batch_s, len(eval_q)),
            "filtered": {},
        }
        for name, allowed in filters.items():
            f_found, f_s = _latency(index, filter_q, 1, params, allowed)
            outside = int((~np.isin(f_found[f_found >= 0], allowed)).sum())
            assert outside == 0, f"{kind}: {outside} results outside the filter"
            row["filtered"][name] = {"recall_at_10": recall_at_k(f_found, truth[name]), **_stats(f_s, len(filter_q))}
        faiss.omp_set_num_threads(args.threads)
        if kind == "flat":
            flat_row = row
        ok = row["recall_at_10"] >= 0.95
        row["speedup_single"] = row["single"]["qps"] / flat_row["single"]["qps"] if ok else None
        row["speedup_batch"] = row["batch"]["qps"] / flat_row["batch"]["qps"] if ok else None
        rows.append(row)
        print(
            f"[{n:,}] {kind:13s} {factory:40s} build {build_s:7.1f} s  recall {row['recall_at_10']:.3f}  "
            f"single p50 {row['single']['p50_ms']:.2f} ms  batch {row['batch']['qps']:,.0f} q/s  "
            f"(elapsed {time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        del index
    return rows


COLUMNS = [
    ("n", lambda r: f"{r['n']:,}"),
    ("index (factory)", lambda r: r["factory"] + (" **chosen**" if r["chosen"] else "")),
    ("build s", lambda r: round(r["build_s"], 1)),
    ("size MB", lambda r: round(r["bytes"] / 2**20, 1)),
    ("RSS Δ MB", lambda r: round(r["rss_delta_bytes"] / 2**20)),
    ("params", lambda r: " ".join(f"{k}={v}" for k, v in r["params"].items()) or None),
    ("recall@10", lambda r: round(r["recall_at_10"], 3)),
    ("1-query p50/p99 ms", lambda r: f"{r['single']['p50_ms']:.2f} / {r['single']['p99_ms']:.2f}"),
    ("1-query QPS", lambda r: round(r["single"]["qps"])),
    ("batch-64 p50/p99 ms", lambda r: f"{r['batch']['p50_ms']:.1f} / {r['batch']['p99_ms']:.1f}"),
    ("batch QPS", lambda r: round(r["batch"]["qps"])),
    (
        "speed-up vs Flat (1 / 64)",
        lambda r: None if r["speedup_batch"] is None else f"{r['speedup_single']:.1f}x / {r['speedup_batch']:.1f}x",
    ),
    (
        "1% filter recall, p50 ms",
        lambda r: f"{r['filtered']['0.01']['recall_at_10']:.3f}, {r['filtered']['0.01']['p50_ms']:.2f}",
    ),
    (
        "10% filter recall, p50 ms",
        lambda r: f"{r['filtered']['0.1']['recall_at_10']:.3f}, {r['filtered']['0.1']['p50_ms']:.2f}",
    ),
]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--index", action="store_true", help="benchmark FAISS index types")
    p.add_argument(
        "--serve",
        action="store_true",
        help="load-test `adsearch serve` on the workspace: --clients threads, --searches in all, while the index "
        "is published --publishes times (benchmarks/speed_serve.py)",
    )
    p.add_argument(
        "--engines",
        action="store_true",
        help="embed the catalog with the local runner and with Ray Data, clips/s side by side "
        "(benchmarks/speed_engines.py; needs ray[data])",
    )
    p.add_argument("--workspace", default=None, help="--serve/--engines: the workspace (default $ADSEARCH_HOME)")
    p.add_argument("--model", default=None, help="--engines: retriever checkpoint (default: the workspace's default)")
    p.add_argument("--clips", type=int, default=None, help="--engines: the catalog's first N clips (default: all)")
    p.add_argument("--batch-size", type=int, default=16, help="--engines: clips per batch (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="--engines: local reader threads (default %(default)s)")
    p.add_argument(
        "--ray-decode",
        choices=["actor", "tasks"],
        default=None,
        help="--engines: where Ray decodes (default: the engine's choice, in the actors on a CPU-only cluster)",
    )
    p.add_argument("--clients", type=int, default=8, help="--serve: concurrent clients (default %(default)s)")
    p.add_argument("--searches", type=int, default=5000, help="--serve: searches in all (default %(default)s)")
    p.add_argument("--publishes", type=int, default=2, help="--serve: index builds + publishes (default %(default)s)")
    p.add_argument("--publish-gap-s", type=float, default=3.0, help="--serve: seconds before each publish")
    p.add_argument("--k", type=int, default=10, help="--serve: hits per search (default %(default)s)")
    p.add_argument(
        "--query-set",
        choices=QUERY_SETS,
        default="catalog",
        help="--serve: catalog descriptions and captions (long), or the generated user-style queries (short)",
    )
    p.add_argument("--timeout-s", type=float, default=1800.0, help="--serve: bound on the whole run")
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="catalog sizes (vectors)")
    p.add_argument("--dim", type=int, default=256, help="embedding dimension (default %(default)s)")
    p.add_argument(
        "--types",
        nargs="+",
        choices=TYPES,
        default=None,
        help="index types to compare (default: all; HNSW only below 1M vectors)",
    )
    p.add_argument(
        "--target",
        type=float,
        default=0.96,
        help="recall@10 to tune for on the tuning queries (default %(default)s: a margin over 0.95 for "
        "the sampling error of the held-out measurement)",
    )
    p.add_argument("--queries", type=int, default=1000, help="held-out evaluation queries (default %(default)s)")
    p.add_argument("--tune-queries", type=int, default=500, help="held-out tuning queries (default %(default)s)")
    p.add_argument(
        "--single-queries",
        type=int,
        default=200,
        help="queries timed one at a time (halved from 1M vectors; default %(default)s)",
    )
    p.add_argument("--filter-queries", type=int, default=200, help="queries per filter (default %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="FAISS OpenMP threads (default %(default)s)")
    p.add_argument(
        "--single-threads",
        type=int,
        default=None,
        help="FAISS threads while timing single queries (default: --threads). On a busy machine 1 gives "
        "truer numbers: waking a second OpenMP thread for a sub-millisecond query can cost a "
        "scheduler time slice",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: <workspace>/bench)")
    args = p.parse_args(argv)
    if args.engines:
        from adsearch.defaults import DEFAULT_RETRIEVER
        from benchmarks.speed_engines import run_engines

        args.model = args.model or DEFAULT_RETRIEVER
        args.argv = list(argv) if argv is not None else sys.argv[1:]
        return run_engines(args)
    if args.serve:
        if not (1 <= args.clients <= 64 and 1 <= args.searches <= 1_000_000 and 0 <= args.publishes <= 10):
            p.error("--serve needs 1-64 --clients, 1-1,000,000 --searches and 0-10 --publishes")
        from benchmarks.speed_serve import run_serve

        return run_serve(args)
    if not args.index:
        p.error("choose what to benchmark: --index, --serve or --engines")
    if min(args.sizes) < 1 or args.dim < 8 or args.queries < BATCH:
        p.error(f"need sizes >= 1, --dim >= 8 and --queries >= {BATCH}")
    if args.out is None:
        from adsearch.workspace import Workspace

        args.out = Workspace.resolve().bench_dir
    args.single_threads = args.single_threads or args.threads
    faiss.omp_set_num_threads(args.threads)
    started, load0 = time.perf_counter(), os.getloadavg()
    rows: list[dict[str, Any]] = []
    args.out.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        rows += bench_size(n, args, args.out)
    table = markdown_table(rows, COLUMNS)
    result = {
        "benchmark": "speed --index",
        "command": " ".join(["python -m benchmarks.speed", *(argv if argv is not None else sys.argv[1:])]),
        "data": "sphere_mixture: 100 clusters, centre weight 0.5, power-law (1/i) covariance, unit vectors",
        "dim": args.dim,
        "k": K,
        "batch": BATCH,
        "threads": args.threads,
        "single_query_threads": args.single_threads,
        "tune_target": args.target,
        "exact_max": EXACT_MAX,
        "ivf_max": IVF_MAX,
        "queries": {
            "eval": args.queries,
            "tune": args.tune_queries,
            "single": args.single_queries,
            "filter": args.filter_queries,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "faiss": faiss.__version__,
            "loadavg_start": load0,
            "loadavg_end": os.getloadavg(),
        },
        "seconds": time.perf_counter() - started,
        "rows": rows,
    }
    json_path, md_path = write_report(args.out, "speed_index", result, table)
    print()
    print(table)
    print(f"\nwrote {json_path} and {md_path} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

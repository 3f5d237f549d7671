"""An index past one machine's memory: IVF-PQ built shard by shard from disk, at up to 10M+ vectors of dim 512.

    nice -n 15 python -m benchmarks.scale_index --n 10000000 --out /work/scale-bench

Phases, each resumable (a killed run continues where it stopped; state in ``<data>/state.json``):

1. ``generate``: synthetic unit vectors written once, chunk by chunk, to ``<data>/raw.f16`` (float16 memmap file).
   Generator (``sphere_mixture_chunk``): chunk ``c`` of 65,536 rows comes from ``numpy.random.default_rng([seed,
   c])``, so any chunk can be regenerated alone. Each row is ``normalize(w·centre + z + 0.5·mu)``: ``centre`` one
   of 10,000 leaf centres picked uniformly, from a two-level hierarchy (``--topics`` 100 random unit topics, each
   with ``--subs`` 100 sub-centres ``normalize(topic + g/sqrt(dim))``, cosine ~0.7 with their topic);
   ``w = --centre-weight`` (default 1.0: centre and noise of equal expected norm); ``z`` a Gaussian with a
   power-law covariance spectrum (eigenvalue ``i^-1`` over the 512 dimensions, unit expected norm) in one random
   rotation shared by all clusters; ``mu`` one common unit direction (real embeddings share a mean direction). So
   the data is clustered at two scales and anisotropic, like real CLIP-style embeddings (topics, near-variants),
   and neighbourhoods cut across leaf clusters. It is NOT real data: recall and speed on real embeddings can
   differ. A first version with 10,000 unrelated centres (no hierarchy, no common direction) left IVF nothing to
   partition by: at 100k, recall@10 stayed at 0.68 with half the lists probed and 1,000 candidates re-ranked
   (docs/experiments.md). Queries: 200 (``--queries``) drawn from the same mixture with another seed stream.
2. ``train``: ``indexer.large_index.train_large_index`` on a seeded sample of contiguous row blocks.
3. ``add``: ``build_large_index`` reads ``raw.f16`` chunk by chunk (``np.fromfile``, not mmap, so read pages are
   not counted in the process's resident memory) and writes one shard per ``--shard-size`` vectors.
4. ``merge``: ``merge_shards_ondisk`` (one index over on-disk inverted lists), to compare with ``IndexShards``.
5. ``truth``: exact top-10 of every query by inner product over all stored vectors, chunk by chunk.
6. ``search``: recall@10 over a grid of nprobe x re-rank depth, for both layouts; at the chosen setting (the
   cheapest that reaches recall@10 >= 0.95), p50/p99 latency of batches of 1 and of 64 queries.

Peak resident memory is ``ru_maxrss`` of the process (each phase records the peak of the process that ran it).
Writes ``scale_index_<n>.json`` and ``.md`` under ``--out`` (default ``<workspace>/bench``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from benchmarks._report import markdown_table, write_report
from indexer.large_index import (
    LargeIndex,
    LargeSearchParams,
    build_large_index,
    default_train_size,
    large_factory,
    merge_shards_ondisk,
)

__all__ = ["main", "sphere_mixture_chunk"]

K = 10
GEN_CHUNK = 65_536
READ_CHUNK = 65_536
TARGET_RECALL = 0.95
NPROBES = (16, 32, 64, 128)
RERANKS = (0, 200, 1000)

_log = logging.getLogger("benchmarks.scale_index")


class _Mixture:
    """The fixed parts of the generator (from ``seed`` alone): a two-level hierarchy of centres, spectrum, rotation.

    ``topics`` unit vectors; under each, ``subs`` sub-centres ``normalize(topic + spread·g/sqrt(dim))`` (cosine
    ~0.7 with their topic at spread 1); a row is ``normalize(w·sub + z + common·mu)``.
    """

    def __init__(
        self, dim: int, seed: int, topics: int, subs: int, centre_weight: float, alpha: float = 1.0,
        spread: float = 1.0, common: float = 0.5,
    ) -> None:  # fmt: skip
        rng = np.random.default_rng([seed, 2**32 - 1])
        top = rng.standard_normal((topics, dim), dtype=np.float32)
        top /= np.linalg.norm(top, axis=1, keepdims=True)
        sub = np.repeat(top, subs, axis=0)
        sub += np.float32(spread / np.sqrt(dim)) * rng.standard_normal(sub.shape, dtype=np.float32)
        self.centres = sub / np.linalg.norm(sub, axis=1, keepdims=True)
        scale = np.arange(1, dim + 1, dtype=np.float32) ** np.float32(-alpha / 2)
        self.scale = scale / np.linalg.norm(scale)
        self.rot = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
        mu = rng.standard_normal(dim).astype(np.float32)
        self.mu = np.float32(common) * mu / np.linalg.norm(mu)
        self.dim, self.seed, self.w = dim, seed, np.float32(centre_weight)

    def draw(self, n: int, stream: Sequence[int]) -> np.ndarray:
        rng = np.random.default_rng(list(stream))
        z = (rng.standard_normal((n, self.dim), dtype=np.float32) * self.scale) @ self.rot
        z += self.w * self.centres[rng.integers(0, len(self.centres), n)]
        z += self.mu
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        return z


def sphere_mixture_chunk(mix: _Mixture, chunk: int, n: int) -> np.ndarray:
    """Rows ``chunk·65536 ..`` (``n`` of them) of the synthetic database: float32 unit vectors."""
    return mix.draw(n, [mix.seed, chunk])


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _State:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def save(self) -> None:
        tmp = self.path.with_name(".tmp-" + self.path.name)
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, self.path)


def _generate(raw: Path, n: int, mix: _Mixture, st: _State) -> None:
    chunks = (n + GEN_CHUNK - 1) // GEN_CHUNK
    gen = st.data.setdefault("generate", {"chunks_done": 0, "seconds": 0.0})
    if gen["chunks_done"] >= chunks:
        return
    from media.progress import progress_bar

    mode = "r+b" if raw.exists() else "wb"
    with open(raw, mode) as f, progress_bar(total=chunks, desc="generate", unit="chunk") as bar:
        f.truncate(n * mix.dim * 2)
        bar.update(gen["chunks_done"])
        for c in range(gen["chunks_done"], chunks):
            t0 = time.perf_counter()
            rows = min(GEN_CHUNK, n - c * GEN_CHUNK)
            f.seek(c * GEN_CHUNK * mix.dim * 2)
            f.write(sphere_mixture_chunk(mix, c, rows).astype(np.float16).tobytes())
            gen["chunks_done"] = c + 1
            gen["seconds"] += time.perf_counter() - t0
            if c % 16 == 15 or c == chunks - 1:
                f.flush()
                os.fsync(f.fileno())
                gen["peak_rss_bytes"] = max(gen.get("peak_rss_bytes", 0), _peak_rss())
                st.save()
            bar.update(1)


class _RawSource:
    """``(ids, float32 vectors)`` chunks of ``raw.f16`` from any row (ids = row numbers)."""

    def __init__(self, raw: Path, n: int, dim: int) -> None:
        self.raw, self.n, self.dim = raw, n, dim

    def read(self, start: int, count: int) -> np.ndarray:
        with open(self.raw, "rb") as f:
            f.seek(start * self.dim * 2)
            x = np.fromfile(f, dtype=np.float16, count=count * self.dim)
        return x.reshape(count, self.dim).astype(np.float32)

    def chunks(self, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for s in range(start, self.n, READ_CHUNK):
            count = min(READ_CHUNK, self.n - s)
            yield np.arange(s, s + count, dtype=np.int64), self.read(s, count)

    def sample(self, size: int, seed: int, block: int = 512) -> np.ndarray:
        """``size`` rows in seeded random contiguous blocks of ``block`` rows (cheap reads from disk)."""
        if size >= self.n:
            return self.read(0, self.n)
        blocks = max(1, self.n // block)
        pick = np.sort(np.random.default_rng(seed).choice(blocks, size=min(blocks, -(-size // block)), replace=False))
        return np.concatenate([self.read(int(b) * block, min(block, self.n - int(b) * block)) for b in pick])[:size]


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def _latency(index: LargeIndex, queries: np.ndarray, batch: int, params: LargeSearchParams, calls: int) -> dict:
    index.search(queries[:batch], K, params)  # warm-up
    seconds = []
    for i in range(calls):
        start = (i * batch) % max(1, len(queries) - batch + 1)
        t0 = time.perf_counter()
        index.search(queries[start : start + batch], K, params)
        seconds.append(time.perf_counter() - t0)
    s = np.asarray(seconds)
    return {
        "batch": batch,
        "calls": calls,
        "p50_ms": float(np.percentile(s, 50) * 1e3),
        "p99_ms": float(np.percentile(s, 99) * 1e3),
        "qps": batch * calls / float(s.sum()),
    }


def _label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """All phases for ``args.n`` vectors; returns the result dict (also written as JSON + markdown)."""
    n, dim = args.n, args.dim
    data = args.data_dir or (args.out / f"scale-data-{_label(n)}")
    data.mkdir(parents=True, exist_ok=True)
    st = _State(data / "state.json")
    config = {"n": n, "dim": dim, "seed": args.seed, "topics": args.topics, "subs": args.subs, "w": args.centre_weight}
    if st.data.setdefault("config", config) != config:
        raise SystemExit(f"{data} holds a run of {st.data['config']}, not {config}: use another --data-dir")
    mix = _Mixture(dim, args.seed, args.topics, args.subs, args.centre_weight)
    raw = data / "raw.f16"
    index_dir = data / "index"
    factory = args.factory or large_factory(n, dim)

    # 1. generate
    if not (index_dir / "manifest.json").exists() or not json.loads((index_dir / "manifest.json").read_text()).get(
        "complete"
    ):
        _generate(raw, n, mix, st)
    print(f"generate: {st.data['generate']['seconds']:.0f} s", flush=True)

    # 2 + 3. train and add (build_large_index resumes by itself)
    source = _RawSource(raw, n, dim)
    build = st.data.setdefault("build", {})
    if not build.get("complete"):
        t0 = time.perf_counter()
        sample = None
        if not (index_dir / "trained.index").exists():
            size = args.train_size or default_train_size(factory, dim)
            sample = source.sample(size, args.seed)
        manifest = build_large_index(
            index_dir,
            source,
            factory=factory,
            train_sample=sample,
            shard_size=args.shard_size,
            seed=args.seed,
            progress=True,
            total=n,
        )
        build.update(
            complete=True,
            wall_s_last_process=time.perf_counter() - t0,
            peak_rss_bytes=max(build.get("peak_rss_bytes", 0), _peak_rss()),
            train_s=manifest["train_s"],
            train_size=manifest["train_size"],
            add_s=sum(s["add_s"] for s in manifest["shards"]),
            shards=manifest["shards"],
        )
        st.save()
    print(f"build: train {build['train_s']:.0f} s, add {build['add_s']:.0f} s", flush=True)
    if args.delete_raw and raw.exists():
        raw.unlink()  # the index keeps its own float16 copy (re-ranking and ground truth read that)

    # 4. merge on disk
    merge = st.data.setdefault("merge", {})
    if not merge.get("complete"):
        t0 = time.perf_counter()
        merge_shards_ondisk(index_dir)
        merge.update(complete=True, seconds=time.perf_counter() - t0, peak_rss_bytes=_peak_rss())
        st.save()

    # 5. ground truth
    queries = mix.draw(args.queries, [args.seed, 2**31])
    truth_path = data / "truth.npy"
    if not truth_path.exists():
        t0 = time.perf_counter()
        _, truth = LargeIndex(index_dir).exact_search(queries, K)
        np.save(data / ".tmp-truth.npy", truth)
        os.replace(data / ".tmp-truth.npy", truth_path)
        st.data["truth"] = {"seconds": time.perf_counter() - t0, "peak_rss_bytes": _peak_rss()}
        st.save()
    truth = np.load(truth_path)

    # 6. search: recall grid per layout, then latency at the cheapest setting reaching the target
    rss_before_search = _peak_rss()
    layouts: dict[str, Any] = {}
    lat_queries = mix.draw(max(args.latency_calls, 64 * 8), [args.seed, 2**31 + 1])
    for layout in ("shards", "ondisk"):
        t0 = time.perf_counter()
        index = LargeIndex(index_dir, layout=layout)
        open_s = time.perf_counter() - t0
        grid = []
        for nprobe in NPROBES:
            for rerank in RERANKS:
                p = LargeSearchParams(nprobe=nprobe, rerank=rerank)
                t1 = time.perf_counter()
                _, found = index.search(queries, K, p)
                grid.append(
                    {"nprobe": nprobe, "rerank": rerank, "recall_at_10": _recall(found, truth),
                     "batch_ms_per_query": (time.perf_counter() - t1) * 1e3 / len(queries)}
                )  # fmt: skip
        ok = [g for g in grid if g["recall_at_10"] >= TARGET_RECALL]
        chosen = min(ok, key=lambda g: g["batch_ms_per_query"]) if ok else max(grid, key=lambda g: g["recall_at_10"])
        p = LargeSearchParams(nprobe=chosen["nprobe"], rerank=chosen["rerank"])
        layouts[layout] = {
            "open_s": open_s,
            "grid": grid,
            "chosen": chosen,
            "latency": [
                _latency(index, lat_queries, 1, p, args.latency_calls),
                _latency(index, lat_queries, 64, p, max(8, args.latency_calls // 32)),
            ],
        }
        del index
        print(f"{layout}: chosen {chosen}", flush=True)

    disk = LargeIndex(index_dir).disk_bytes()
    raw_f32 = n * dim * 4
    peaks = {
        "generate": st.data["generate"].get("peak_rss_bytes"),
        "build": build.get("peak_rss_bytes"),
        "merge": merge.get("peak_rss_bytes"),
        "truth": st.data.get("truth", {}).get("peak_rss_bytes"),
        "search": _peak_rss(),
    }
    peak = max(v for v in peaks.values() if v)
    shards = build["shards"]
    result = {
        "benchmark": "scale_index",
        "command": " ".join(["python -m benchmarks.scale_index", *(args.argv or [])]),
        "n": n,
        "dim": dim,
        "k": K,
        "factory": factory,
        "shard_size": args.shard_size,
        "n_shards": len(shards),
        "data": (
            f"sphere_mixture_chunk: {args.topics} topics x {args.subs} sub-centres (cos ~0.7 to their topic) on the "
            f"unit sphere, picked uniformly, centre weight {args.centre_weight}, plus Gaussian noise with power-law "
            "(1/i) covariance spectrum in a shared random rotation, plus a common direction (weight 0.5); unit "
            "vectors stored as float16; chunk c of 65536 rows seeded by (seed, c); "
            f"{args.queries} held-out queries from the same mixture. Synthetic, not real embeddings."
        ),
        "seed": args.seed,
        "threads": args.threads,
        "phases_s": {
            "generate": st.data["generate"]["seconds"],
            "train": build["train_s"],
            "add": build["add_s"],
            "merge_ondisk": merge["seconds"],
            "ground_truth": st.data.get("truth", {}).get("seconds"),
        },
        "train_size": build["train_size"],
        "add_vectors_per_s": n / build["add_s"],
        "per_shard": {
            "vectors": shards[0]["n"],
            "add_s_mean": float(np.mean([s["add_s"] for s in shards])),
            "index_bytes": shards[0]["index_bytes"],
            "vectors_f16_bytes": shards[0]["vectors_bytes"],
        },
        "disk_bytes": disk,
        "raw_float32_bytes": raw_f32,
        "peak_rss_bytes": peaks,
        "peak_rss_max_bytes": peak,
        "peak_rss_fraction_of_raw_f32": peak / raw_f32,
        "peak_rss_before_search_bytes": rss_before_search,
        "layouts": layouts,
        "target_recall_at_10": TARGET_RECALL,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
            "python": platform.python_version(),
            "faiss": faiss.__version__,
            "gpus": faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0,
        },
    }
    rows = []
    for layout, r in layouts.items():
        c = r["chosen"]
        l1, l64 = r["latency"]
        rows.append(
            {
                "layout": layout,
                "n": n,
                "nprobe": c["nprobe"],
                "rerank": c["rerank"],
                "recall": c["recall_at_10"],
                "p50_1": l1["p50_ms"],
                "p99_1": l1["p99_ms"],
                "p50_64": l64["p50_ms"],
                "p99_64": l64["p99_ms"],
            }
        )
    cols = [
        ("layout", lambda r: r["layout"]),
        ("n", lambda r: f"{r['n']:,}"),
        ("nprobe", lambda r: r["nprobe"]),
        ("rerank", lambda r: r["rerank"]),
        ("recall@10", lambda r: r["recall"]),
        ("p50 ms (1 q)", lambda r: r["p50_1"]),
        ("p99 ms (1 q)", lambda r: r["p99_1"]),
        ("p50 ms (64 q)", lambda r: r["p50_64"]),
        ("p99 ms (64 q)", lambda r: r["p99_64"]),
    ]
    gb = 1e9
    ph = result["phases_s"]
    summary = [
        f"# scale_index: {n:,} x {dim} ({factory}, {len(shards)} shards of {args.shard_size:,})",
        "",
        f"Command: `{result['command']}` (threads {args.threads})",
        "",
        f"- data: {result['data']}",
        f"- build: generate {ph['generate']:.0f} s, train {ph['train']:.0f} s on {build['train_size']:,} vectors, "
        f"add {ph['add']:.0f} s ({result['add_vectors_per_s']:,.0f} vectors/s), merge on disk "
        f"{ph['merge_ondisk']:.0f} s, exact ground truth {ph['ground_truth'] or 0:.0f} s",
        f"- peak resident memory: {peak / gb:.2f} GB = {100 * peak / raw_f32:.1f}% of the raw float32 vectors "
        f"({raw_f32 / gb:.1f} GB); per phase (GB): " + ", ".join(f"{k} {v / gb:.2f}" for k, v in peaks.items() if v),
        f"- disk: PQ codes + ids {disk['codes'] / gb:.2f} GB, float16 re-ranking vectors {disk['vectors'] / gb:.2f} "
        f"GB, id lookup {disk['lookup'] / gb:.2f} GB, merged on-disk copy {disk['merged'] / gb:.2f} GB; per shard "
        f"{shards[0]['index_bytes'] / 1e6:.0f} MB codes + {shards[0]['vectors_bytes'] / 1e6:.0f} MB vectors",
        "",
        markdown_table(rows, cols),
        "",
        "Recall@10 grid (batch of all queries; ms per query):",
        "",
        markdown_table(
            [dict(g, layout=lay) for lay, r in layouts.items() for g in r["grid"]],
            [
                ("layout", lambda r: r["layout"]),
                ("nprobe", lambda r: r["nprobe"]),
                ("rerank", lambda r: r["rerank"]),
                ("recall@10", lambda r: r["recall_at_10"]),
                ("ms/query", lambda r: r["batch_ms_per_query"]),
            ],
        ),
    ]
    table = "\n".join(summary)
    write_report(args.out, f"scale_index_{_label(n)}", result, table)
    print(table, flush=True)
    if args.cleanup:
        shutil.rmtree(data)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale_index", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000_000, help="database vectors (default %(default)s)")
    p.add_argument("--dim", type=int, default=512, help="dimension (default %(default)s, the paper configs')")
    p.add_argument("--factory", default=None, help="FAISS factory (default: indexer.large_index.large_factory)")
    p.add_argument("--shard-size", type=int, default=1_000_000, help="vectors per shard (default %(default)s)")
    p.add_argument("--train-size", type=int, default=None, help="training sample (default: 64 per list, >= 65536)")
    p.add_argument("--topics", type=int, default=100, help="top-level mixture centres (default %(default)s)")
    p.add_argument("--subs", type=int, default=100, help="sub-centres per topic (default %(default)s)")
    p.add_argument("--centre-weight", type=float, default=1.0, help="weight of the cluster centre (default 1.0)")
    p.add_argument("--queries", type=int, default=200, help="queries with exact ground truth (default 200)")
    p.add_argument("--latency-calls", type=int, default=300, help="single-query calls timed (default 300)")
    p.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: <workspace>/bench)")
    p.add_argument("--data-dir", type=Path, default=None, help="raw vectors + index (default: <out>/scale-data-<n>)")
    p.add_argument("--delete-raw", action="store_true", help="delete raw.f16 once the index is built")
    p.add_argument("--cleanup", action="store_true", help="delete the data folder at the end (keeps JSON + md)")
    args = p.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.n < 1000 or args.dim < 8 or args.queries < 1:
        p.error("need --n >= 1000, --dim >= 8, --queries >= 1")
    if args.out is None:
        from adsearch.workspace import Workspace

        args.out = Workspace.resolve().bench_dir
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    faiss.omp_set_num_threads(args.threads)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

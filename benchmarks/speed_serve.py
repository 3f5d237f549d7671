"""``python -m benchmarks.speed --serve``: the search service under load while the index is published again.

A real ``adsearch serve`` process (API + app, 127.0.0.1 on a free port) over the workspace; ``--clients`` threads
of this process send ``--searches`` searches in all over keep-alive HTTP connections (k 10; each search its own
query, never a repeat: the catalog's distinct texts, then word prefixes of them, see ``distinct_queries``), while
this process rebuilds and publishes the index ``--publishes`` times (``adsearch index build``'s library call).
Reports errors, end-to-end latency p50/p95/p99 and throughput, writes ``speed_serve.json`` / ``.md`` and
``speed_serve.png`` (latency over time with the publishes marked) under ``<workspace>/bench``.
Loopback only; bounded by ``--searches`` and ``--timeout-s``.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["distinct_queries", "run_serve"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def distinct_queries(texts: list[str], n: int, seed: int) -> list[str]:
    """``n`` distinct query strings in a seeded order, so no search of the load test repeats an earlier one (a cache
    of query vectors or results would otherwise be measured): the distinct ``texts``, then, while more are needed,
    their word prefixes (the first 3/4, 1/2, 1/4 of each text's words, at least 3 words) as variations. Fewer than
    ``n`` only when the texts and their prefixes run out."""
    base = sorted({" ".join(t.split()) for t in texts} - {""})
    out = dict.fromkeys(base)
    for frac in (0.75, 0.5, 0.25):
        if len(out) >= n:
            break
        for t in base:
            words = t.split()
            cut = max(3, int(len(words) * frac))
            if cut < len(words):
                out.setdefault(" ".join(words[:cut]))
    queries = list(out)
    rng = random.Random(seed)
    head, tail = queries[: len(base)], queries[len(base) :]  # whole texts first, then the variations
    rng.shuffle(head)
    rng.shuffle(tail)
    return (head + tail)[:n]


QUERY_SETS = ("catalog", "user")


def _queries(ws: Any, n: int, seed: int, query_set: str = "catalog") -> list[str]:
    """``catalog``: the catalog's descriptions and captions (long queries, ~58 tokens: the costly case); ``user``:
    the user-style queries the generator wrote beside the catalog's manifests (``user_queries.jsonl``: what people
    type, 4-14 words)."""
    if query_set == "user":
        from benchmarks.user_queries import load_query_sets

        return distinct_queries([t for qs in load_query_sets(ws) for t in qs.texts], n, seed)
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        rows = cat.query(
            "SELECT DISTINCT text FROM texts WHERE kind IN ('reference', 'general', 'fine') AND length(text) > 0"
        )
    return distinct_queries([r["text"] for r in rows], n, seed)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _wait_ready(port: int, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"adsearch serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            data = json.loads(conn.getresponse().read())
            conn.close()
            if data.get("ready"):
                return
            raise RuntimeError(f"the server has nothing to search: {data.get('message')}")
        except (ConnectionError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"adsearch serve did not answer within {timeout_s} s")


def run_serve(args: Any) -> int:
    """The load test (see the module docstring); returns the exit code."""
    from adsearch.index import build
    from adsearch.workspace import Workspace
    from benchmarks._report import markdown_table, write_report

    ws = Workspace.resolve(args.workspace)
    out = args.out or ws.bench_dir
    query_set = args.query_set
    queries = _queries(ws, args.searches, args.seed, query_set)  # one distinct query per search
    if not queries:
        print(f"no {query_set} texts to query with in {ws.root}", file=sys.stderr)
        return 2
    port = _free_port()
    load0 = os.getloadavg()
    cmd = [sys.executable, "-m", "adsearch.cli", "serve", "--workspace", str(ws.root), "--port", str(port)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    try:
        _wait_ready(port, proc, args.timeout_s)
        load_s = time.perf_counter() - started
        print(f"server ready in {load_s:.1f} s on 127.0.0.1:{port}; {len(queries)} distinct queries", flush=True)
        if len(queries) < args.searches:
            print(f"only {len(queries)} distinct queries: some of the {args.searches} searches repeat one", flush=True)
        lat: list[tuple[float, float]] = []  # (start offset s, latency s)
        errors: list[str] = []
        versions: dict[str, int] = {}
        counter = iter(range(args.searches))  # search i sends queries[i % len(queries)]
        lock = threading.Lock()
        server_cpu0, own_cpu0 = _cpu_seconds(proc.pid), time.process_time()
        t0 = time.perf_counter()
        deadline = time.monotonic() + args.timeout_s

        def client(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            while time.monotonic() < deadline:
                with lock:
                    n = next(counter, None)
                if n is None:
                    break
                body = json.dumps({"query": queries[n % len(queries)], "k": args.k})
                s = time.perf_counter()
                try:
                    conn.request("POST", "/search", body=body, headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = json.loads(resp.read())
                    ok = resp.status == 200 and data.get("count", 0) > 0
                except (OSError, http.client.HTTPException, ValueError) as e:
                    ok, data = False, {"error": repr(e)}
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                e2e = time.perf_counter() - s
                with lock:
                    lat.append((s - t0, e2e))
                    if ok:
                        versions[data["index_version"]] = versions.get(data["index_version"], 0) + 1
                    else:
                        errors.append(str(data)[:300])
            conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        publishes = []
        for _ in range(args.publishes):
            time.sleep(args.publish_gap_s)
            s = time.perf_counter()
            version = build(ws, progress=False).version
            publishes.append({"at_s": s - t0, "seconds": time.perf_counter() - s, "version": version})
            print(f"published {version} in {publishes[-1]['seconds']:.1f} s", flush=True)
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        server_cpu1, own_cpu = _cpu_seconds(proc.pid), time.process_time() - own_cpu0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    secs = np.array([x[1] for x in lat])
    with_catalog = {"clips": _count_clips(ws)}
    row = {
        "queries": query_set,
        "clips": with_catalog["clips"],
        "clients": args.clients,
        "searches": len(lat),
        "errors": len(errors),
        "p50_ms": float(np.percentile(secs, 50) * 1e3),
        "p95_ms": float(np.percentile(secs, 95) * 1e3),
        "p99_ms": float(np.percentile(secs, 99) * 1e3),
        "qps": len(lat) / wall,
        "publishes": len(publishes),
        "versions_seen": len(versions),
        # CPU per search: the server's (parse, search, answer) and this process's (the clients and the publishes)
        "server_cpu_ms": (server_cpu1 - server_cpu0) / len(lat) * 1e3
        if None not in (server_cpu0, server_cpu1)
        else None,
        "bench_cpu_ms": own_cpu / len(lat) * 1e3,
    }
    columns = [(k, (lambda r, k=k: round(r[k], 1) if isinstance(r[k], float) else r[k])) for k in row]
    loads = {"loadavg_start": load0, "loadavg_end": os.getloadavg()}
    table = markdown_table([row], columns)
    result = {
        "benchmark": "speed --serve",
        "command": " ".join(["python -m benchmarks.speed", *sys.argv[1:]]),
        "workspace": str(ws.root),
        "server_start_s": load_s,
        "wall_s": wall,
        "k": args.k,
        "distinct_queries": len(queries),
        **row,
        "publish": publishes,
        "versions": versions,
        "error_samples": errors[:10],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **loads},
        "latencies_ms": [round(x[1] * 1e3, 3) for x in lat],
    }
    json_path, md_path = write_report(out, "speed_serve", result, table)
    png = _plot(lat, publishes, out / "speed_serve.png", row)
    print()
    print(table)
    print(f"\nload average (1, 5, 15 min) at the start {load0}, at the end {loads['loadavg_end']}")
    print(f"\nwrote {json_path}, {md_path} and {png}")
    return 0 if not errors else 1


def _count_clips(ws: Any) -> int:
    from indexer.catalog import open_catalog

    with open_catalog(ws.catalog_path, read_only=True) as cat:
        return cat.query("SELECT count(*) AS n FROM clips")[0]["n"]


def _plot(lat: list[tuple[float, float]], publishes: list[dict], path: Path, row: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    a.scatter([x[0] for x in lat], [x[1] * 1e3 for x in lat], s=2, alpha=0.4)
    for p in publishes:
        a.axvspan(p["at_s"], p["at_s"] + p["seconds"], color="orange", alpha=0.2)
    a.set(xlabel="time (s); orange: index build + publish", ylabel="latency (ms)", yscale="log")
    b.hist([x[1] * 1e3 for x in lat], bins=100)
    for q, style in (("p50_ms", "--"), ("p99_ms", ":")):
        b.axvline(row[q], color="k", linestyle=style, label=f"{q[:3]} {row[q]:.1f} ms")
    b.set(xlabel="latency (ms)", ylabel="searches", title=f"{row['clients']} clients, {row['clips']} clips")
    b.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

"""Text-to-video recall on a catalog split: the paper's Table 8 (general captions vs fine-grained descriptions).

    python -m benchmarks.recall --workspace workspace [--split test] [--exact] [--model retriever-tiny] [--reuse]

Gallery = the clips of ``--split``. Each gallery clip gives one query per text type: the general caption of the
general captioner, the fine-grained description of the SVAD-VLM captioner, the catalog's reference description
(the upper bound) and the ASR transcript; a query's answer is its own clip. Queries are encoded by the retriever
and searched through the workspace's published FAISS index restricted to the split's clips (the path a filtered
user search takes); ``--exact`` also scores them by exact cosine similarity against clips encoded now. Ranks are
tie-safe (a tie never improves a rank). Reports R@1/5/10, their mean, MdR and MnR per text type, the same after
dual-softmax re-scoring (DSL, as in CLIP-ViP's evaluation; it uses all queries at once, so it is reported apart),
R@1/R@10 per industry, product and game label, and the compositional split as extra rows; a note says when the
fine captioner chose its descriptions with this same retriever (``captioner.rerank``). Beside each text type
whose queries repeat (general captions shared by several clips) it prints that row's ceiling: the best R@K any
model reaches when identical queries must share one ranking (:func:`shared_text_ceiling`). Beside the table it
scores the catalog's user-style queries (``benchmarks.user_queries``: short, partial, held-out wording, every
satisfying clip an answer) on the split and on the whole catalog. Writes ``recall.json``, ``recall.md`` and
``recall_at_k.png`` (R@K, K = 1..kmax, per text type) under ``--out`` (default ``<workspace>/bench``). The result
records what it depends on (``recall_inputs``: the retriever, the published index version, the captioners, the
options); ``--reuse`` prints the saved table instead of running again when none of them changed (``adsearch demo``
runs the benchmark that way).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adsearch.defaults import DEFAULT_RETRIEVER, captioner_name
from adsearch.workspace import Workspace
from benchmarks._recall_data import (
    LABEL_FIELDS,
    TEXT_TYPES,
    Gallery,
    encode_gallery,
    index_similarity,
    load_gallery,
)
from benchmarks._report import markdown_table, write_report
from benchmarks.user_queries import evaluate_user_queries
from retrieval.metrics import dual_softmax, mean_rank, median_rank, ranks_from_similarity, recall_at_k, recall_curve

__all__ = [
    "PAPER_TABLE8",
    "format_report",
    "main",
    "plot_recall",
    "recall_inputs",
    "run_recall",
    "shared_text_ceiling",
]

# The paper's Table 8 (text-to-video retrieval on SVAD's test set), printed as a labelled reference row.
PAPER_TABLE8 = (
    {"query": "general (BLIP-2 captions)", "R@1": 45.3, "R@5": 79.0, "R@10": 89.2},
    {"query": "fine (SVAD-VLM descriptions)", "R@1": 86.7, "R@5": 99.0, "R@10": 99.7},
)
INDEX_COMMANDS = "`adsearch embed` then `adsearch index build`"


def _metrics(ranks: np.ndarray) -> dict[str, float]:
    out = {f"R@{k}": recall_at_k(ranks, k) for k in (1, 5, 10)}
    out["mean_R"] = (out["R@1"] + out["R@5"] + out["R@10"]) / 3
    out.update(MdR=median_rank(ranks), MnR=mean_rank(ranks), n=int(ranks.size))
    return out


def shared_text_ceiling(texts: Sequence[str]) -> dict[str, float]:
    """The best R@1/5/10, MdR and MnR any model can reach with these queries, each pointing at its own clip.

    Identical query texts get identical vectors, so the ``m`` clips that share one text share one ranking: at best
    they take ranks 1..m, and the query of each finds its own clip at one of those ranks (the tie-safe convention
    of ``ranks_from_similarity``: tied scores would only make it worse). A text used once has rank 1.
    """
    counts = Counter(texts)
    if not counts:
        raise ValueError("no query texts")
    ranks = np.concatenate([np.arange(1, m + 1) for m in counts.values()])
    out = _metrics(ranks)
    out["distinct"] = len(counts)
    return out


def _load_model_and_index(ws: Workspace, model: str) -> tuple[Any, Any]:
    from indexer.versions import load_index
    from retrieval import load_checkpoint

    model_dir = ws.models_dir / model
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no retriever checkpoint at {model_dir}; train one with `adsearch train-retriever`")
    net = load_checkpoint(model_dir)
    model_id = _model_id(model_dir)
    try:
        loaded = load_index(ws.indexes_dir, model_id)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} (the benchmark searches the published index: run {INDEX_COMMANDS})") from e
    return net, loaded


def _model_id(model_dir: Path) -> str:
    from retrieval import read_checkpoint_meta

    return str(read_checkpoint_meta(model_dir)["model_id"])


def _check_indexed(loaded: Any, gallery: Gallery) -> None:
    from indexer.faiss_index import index_ids

    missing = np.setdiff1d(gallery.clip_ids, index_ids(loaded.index))
    if missing.size:
        raise ValueError(
            f"{missing.size} of the {gallery.clip_ids.size} clips of split {gallery.split!r} are not in index version "
            f"{loaded.version}; run `adsearch embed` then `adsearch index add` (or `adsearch index build`)"
        )


def _label_rows(gallery: Gallery, ranks_by_type: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    rows = []
    for label in LABEL_FIELDS:
        values = sorted({c[label] for c in gallery.clips if c[label] is not None})
        for value in values:
            has = np.array([c[label] == value for c in gallery.clips])
            row: dict[str, Any] = {"label": label, "value": value, "clips": int(has.sum())}
            for text_type, ranks in ranks_by_type.items():
                sel = has[gallery.queries[text_type][1]]
                if sel.any():
                    row[text_type] = {k: recall_at_k(ranks[sel], int(k[2:])) for k in ("R@1", "R@10")}
                    row[text_type]["n"] = int(sel.sum())
            rows.append(row)
    return rows


def _evaluate_set(
    ws: Workspace,
    net: Any,
    loaded: Any,
    gallery: Gallery,
    *,
    exact: bool,
    kmax: int,
    temperature: float,
    batch_size: int,
    progress: bool,
) -> dict[str, Any]:
    from retrieval import encode_queries

    _check_indexed(loaded, gallery)
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[float]] = {}
    ranks_by_type: dict[str, np.ndarray] = {}
    exact_differs: dict[str, bool] = {}
    clip_vectors = None  # exact path: the gallery clips are encoded once per set, on the first text type
    for text_type in TEXT_TYPES:
        if text_type not in gallery.queries:
            continue
        texts, targets = gallery.queries[text_type]
        q = encode_queries(net, texts)
        t0 = time.perf_counter()
        sims = {"index": index_similarity(loaded.index, q, gallery.clip_ids)}
        search_s = time.perf_counter() - t0
        if exact:
            if clip_vectors is None:
                cache = ws.root / "cache" / "frames"
                clip_vectors = encode_gallery(net, gallery, cache_dir=cache, batch_size=batch_size, progress=progress)
            sims["exact"] = q.astype(np.float64) @ clip_vectors.astype(np.float64).T
        for search, sim in sims.items():
            for scoring, scored in (("plain", sim), ("dsl", dual_softmax(sim, temperature))):
                ranks = ranks_from_similarity(scored, targets)
                rows.append(
                    {"query": text_type, "source": gallery.sources[text_type], "search": search, "scoring": scoring}
                    | _metrics(ranks)
                )
                if search == "index" and scoring == "plain":
                    ranks_by_type[text_type] = ranks
                    curves[text_type] = [round(float(v), 4) for v in recall_curve(ranks, kmax)]
                    rows[-1]["search_ms_per_query"] = 1000 * search_s / max(1, len(texts))
                elif search == "exact" and scoring == "plain":
                    exact_differs[text_type] = bool((ranks != ranks_by_type[text_type]).any())
    return {
        "split": gallery.split,
        "n_gallery": len(gallery.clips),
        "sources": gallery.sources,
        "missing": gallery.missing,
        "rows": rows,
        "curves": curves,
        "exact_differs": exact_differs if exact else None,
        "labels": _label_rows(gallery, ranks_by_type),
        "ceilings": {t: shared_text_ceiling(gallery.queries[t][0]) for t in ranks_by_type},
    }


def run_recall(
    ws: Workspace,
    *,
    split: str = "test",
    comp_split: str | None = "test_comp",
    model: str = DEFAULT_RETRIEVER,
    exact: bool = False,
    kmax: int = 50,
    temperature: float = 100.0,
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the benchmark on ``split`` (and ``comp_split`` when the catalog has it); returns the JSON-ready result.

    Raises:
        FileNotFoundError: No catalog, retriever checkpoint or published index (the message names the command).
        ValueError: The split has no clips or no query texts, or some of its clips are not in the index.
    """
    if kmax < 10:
        raise ValueError(f"--kmax must be >= 10 (R@10 is reported), got {kmax}")
    t0 = time.perf_counter()
    main_gallery = load_gallery(ws, split)
    if not main_gallery.queries:
        raise ValueError(f"no query texts for split {split!r}: " + "; ".join(main_gallery.missing.values()))
    galleries = [main_gallery]
    if comp_split and comp_split != split:
        try:
            galleries.append(load_gallery(ws, comp_split))
        except ValueError:  # a catalog without a compositional split is benchmarked without it
            logging.getLogger(__name__).info("no clips in split %s; no compositional rows", comp_split)
    net, loaded = _load_model_and_index(ws, model)
    options = {"exact": exact, "kmax": kmax, "temperature": temperature, "batch_size": batch_size, "progress": progress}
    sets = [_evaluate_set(ws, net, loaded, g, **options) for g in galleries if g.queries]
    meta = loaded.meta
    fine_source = main_gallery.sources.get("fine")
    return {
        "workspace": str(ws.root),
        "model": model,
        "model_id": meta.model_id,
        "fine_reranked_here": bool(fine_source) and _reranks_with(ws, fine_source, meta.model_id),
        "index": {"version": loaded.version, "factory": meta.factory, "n": meta.n, "recall_at_10": meta.recall_at_10},
        "kmax": kmax,
        "dsl_temperature": temperature,
        "sets": sets,
        "user_queries": evaluate_user_queries(ws, net, loaded, split=split),
        "paper_table8": list(PAPER_TABLE8),
        "seconds": time.perf_counter() - t0,
    }


def _reranks_with(ws: Workspace, captioner_id: str, retriever_id: str) -> bool:
    """Whether the captioner checkpoint ``captioner_id`` (under ``models/``) reranks its descriptions by default
    with the retriever ``retriever_id`` (see ``captioner.rerank``): then this benchmark's fine row is scored by the
    model that chose those texts."""
    import json

    for path in ws.models_dir.glob("*/config.json"):
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("model_id") == captioner_id and isinstance(meta.get("config"), dict):
            return bool(meta["config"].get("rerank_samples")) and meta.get("video_embedder") == retriever_id
    return False


def _set_name(result: dict[str, Any], s: dict[str, Any]) -> str:
    main = result["sets"][0]["split"]
    return s["split"] if s["split"] == main else f"{s['split']} (compositional)"


def _main_rows(result: dict[str, Any], scoring: str) -> list[dict[str, Any]]:
    rows = (
        [{"set": "paper Table 8 (reported, not measured here)", **p} for p in PAPER_TABLE8]
        if scoring == "plain"
        else []
    )
    for s in result["sets"]:
        show_exact = {t for t, differs in (s["exact_differs"] or {}).items() if differs}
        for r in s["rows"]:
            if r["scoring"] == scoring and (r["search"] == "index" or r["query"] in show_exact):
                rows.append({"set": f"{_set_name(result, s)}, {s['n_gallery']} clips", **r})
                ceiling = s.get("ceilings", {}).get(r["query"])
                if r["search"] == "index" and ceiling is not None and ceiling["R@1"] < 100:
                    rows.append(
                        {
                            "set": rows[-1]["set"],
                            "query": f"{r['query']}: ceiling",
                            "source": f"any model ({ceiling['distinct']} distinct texts)",
                        }
                        | ceiling
                    )
    if scoring == "plain":
        for c in result.get("user_queries", {}).get("catalogs", []):
            for u in c["sets"]:
                where = "whole catalog" if u["gallery"] == "all" else u["gallery"]
                rows.append(
                    {
                        "set": f"{where}, {u['n_gallery']} clips",
                        "query": "user-style (held-out wording)",
                        "source": f"{c['catalog_id']}/user_queries.jsonl, {u['mean_answers']:.1f} answers/query",
                        "search": "index",
                    }
                    | u
                )
    return rows


_COLUMNS = [
    ("set", lambda r: r["set"]),
    ("query text", lambda r: r["query"]),
    ("text source", lambda r: r.get("source")),
    ("search", lambda r: r.get("search")),
    ("n", lambda r: r.get("n")),
    ("R@1", lambda r: r["R@1"]),
    ("R@5", lambda r: r["R@5"]),
    ("R@10", lambda r: r["R@10"]),
    ("mean R", lambda r: r.get("mean_R")),
    ("MdR", lambda r: r.get("MdR")),
    ("MnR", lambda r: r.get("MnR")),
]


def _label_table(result: dict[str, Any]) -> str:
    s = result["sets"][0]
    types = [t for t in TEXT_TYPES if t in s["sources"]]
    columns = [("label", lambda r: r["label"]), ("value", lambda r: r["value"]), ("clips", lambda r: r["clips"])]
    for t in types:
        columns.append(
            (f"{t} R@1 / R@10", lambda r, t=t: f"{r[t]['R@1']:.1f} / {r[t]['R@10']:.1f}" if t in r else None)
        )
    return markdown_table(s["labels"], columns)


def format_report(result: dict[str, Any]) -> str:
    """The markdown report: Table 8 layout (plain scores), the DSL table, the per-label table and notes."""
    idx = result["index"]
    parts = [
        f"## Text-to-video recall — model {result['model_id']}, index {idx['version']} ({idx['factory']}, "
        f"{idx['n']} vectors)",
        "",
        markdown_table(_main_rows(result, "plain"), _COLUMNS),
        "",
        f"### With dual softmax (DSL, temperature {result['dsl_temperature']:g}; re-scores with all queries at once)",
        "",
        markdown_table(_main_rows(result, "dsl"), _COLUMNS),
        "",
        f"### Per label ({result['sets'][0]['split']}, index search, plain scores)",
        "",
        _label_table(result),
    ]
    by_attrs = [
        {"gallery": f"{c['catalog_id']}, {u['gallery']}", "attributes": int(n), **m}
        for c in result.get("user_queries", {}).get("catalogs", [])
        for u in c["sets"]
        for n, m in u["by_attributes"].items()
    ]
    if by_attrs:
        columns = [(h, lambda r, h=h: r[h]) for h in ("gallery", "attributes", "n", "R@1", "R@10")]
        parts += ["", "### User-style queries by number of stated attributes", "", markdown_table(by_attrs, columns)]
    notes = []
    uq = result.get("user_queries", {})
    if any(c["sets"] for c in uq.get("catalogs", [])):
        notes.append(
            f"- user-style: queries written from the {uq['query_split']} clips (2-6 attributes, 4-14 words, wording "
            "held out of training texts); a query is found at the best rank of any clip that satisfies it"
        )
    notes += [f"- user-style: {n}" for n in uq.get("notes", [])]
    if any(r["R@1"] < 100 for s in result["sets"] for r in s.get("ceilings", {}).values()):
        notes.append(
            "- ceiling: the best any model can reach when several clips share one query text (identical queries "
            "share one ranking); the general row is read against it"
        )
    if result.get("fine_reranked_here"):
        notes.append(
            f"- fine: the captioner keeps, per clip, the candidate description (greedy or sampled) that this retriever "
            f"({result['model_id']}) scores highest, so these rows favour it; "
            "`python -m benchmarks.captioning --judge NAME` scores the same texts with an independent retriever"
        )
    for s in result["sets"]:
        notes += [f"- {s['split']}: {msg}" for msg in s["missing"].values()]
        differs = s["exact_differs"]
        if differs is not None:
            same = [t for t, d in differs.items() if not d]
            if same:
                notes.append(f"- {s['split']}: exact search gives the index's ranks for {', '.join(same)}")
    if notes:
        parts += ["", "Notes:", *notes]
    return "\n".join(parts)


def plot_recall(result: dict[str, Any], path: Path) -> Path:
    """A PNG of R@K (K = 1..kmax) per text type: solid for the main split, dashed for the compositional one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ks = np.arange(1, result["kmax"] + 1)
    colors = dict(zip(TEXT_TYPES, ("tab:orange", "tab:green", "tab:blue", "tab:gray"), strict=True))
    for i, s in enumerate(result["sets"]):
        for text_type, curve in s["curves"].items():
            ax.plot(
                ks,
                curve,
                color=colors[text_type],
                linestyle="-" if i == 0 else "--",
                label=f"{text_type} ({_set_name(result, s)})",
            )
    ax.set(xlabel="K", ylabel="recall@K (%)", ylim=(0, 101), xlim=(1, result["kmax"]))
    ax.set_title(f"Text-to-video recall@K, {result['model_id']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.recall``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.recall",
        description="Text-to-video recall per query text type (the paper's Table 8) on a catalog split.",
    )
    p.add_argument("--workspace", default=None, help="workspace folder (default: $ADSEARCH_HOME or ./workspace)")
    p.add_argument("--split", default="test", help="split whose clips form the gallery and queries (default test)")
    p.add_argument(
        "--comp-split",
        default="test_comp",
        help="compositional split reported as extra rows when the catalog has it; '' to skip (default test_comp)",
    )
    p.add_argument(
        "--model", default=DEFAULT_RETRIEVER, help="retriever under <workspace>/models (default %(default)s)"
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="also score by exact cosine similarity (clips encoded now); rows shown where ranks differ",
    )
    p.add_argument("--kmax", type=int, default=50, help="largest K of the recall@K plot (default %(default)s)")
    p.add_argument(
        "--dsl-temperature",
        type=float,
        default=100.0,
        help="inverse temperature of the dual softmax (default %(default)s, as CLIP-ViP)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="clips per forward pass with --exact (default 32)")
    p.add_argument("--out", default=None, help="output folder (default <workspace>/bench)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="print the saved recall.md instead of running when nothing it depends on changed (recall_inputs)",
    )
    return p


def recall_inputs(ws: Workspace, model: str, options: dict[str, Any]) -> dict[str, Any]:
    """What a recall result depends on: the retriever's model id, the published index version, the captioners that
    wrote the queries (their model ids) and the benchmark's options. JSON-ready."""
    from indexer.versions import active_version
    from retrieval import read_checkpoint_meta

    model_id = read_checkpoint_meta(ws.models_dir / model)["model_id"]
    captioners = {}
    for kind in ("fine", "general"):
        cfg = ws.models_dir / captioner_name(kind) / "config.json"
        captioners[kind] = json.loads(cfg.read_text(encoding="utf-8")).get("model_id") if cfg.is_file() else None
    version = active_version(ws.indexes_dir, model_id)
    return {"model_id": model_id, "version": version, "captioners": captioners, "options": options}


def _saved_table(out: Path, inputs: dict[str, Any]) -> str | None:
    """The saved ``recall.md`` when ``recall.json`` beside it was computed from ``inputs``."""
    saved_json, saved_md = out / "recall.json", out / "recall.md"
    if not (saved_json.is_file() and saved_md.is_file()):
        return None
    try:
        saved = json.loads(saved_json.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return saved_md.read_text(encoding="utf-8") if saved.get("inputs") == inputs else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables and write recall.json / recall.md / recall_at_k.png."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from the workspace; never wait on the hub
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("media.progress").setLevel(logging.INFO)  # progress lines when stderr is not a terminal
    ws = Workspace.resolve(args.workspace)
    out = Path(args.out) if args.out else ws.bench_dir
    options = {
        "split": args.split,
        "comp_split": args.comp_split or None,
        "exact": args.exact,
        "kmax": args.kmax,
        "temperature": args.dsl_temperature,
    }
    try:
        saved = _saved_table(out, recall_inputs(ws, args.model, options)) if args.reuse else None
        if saved is not None:
            print(f"nothing changed since {out / 'recall.md'} was computed; its table:\n")
            print(saved)
            return 0
        result = run_recall(
            ws,
            split=args.split,
            comp_split=args.comp_split or None,
            model=args.model,
            exact=args.exact,
            kmax=args.kmax,
            temperature=args.dsl_temperature,
            batch_size=args.batch_size,
            progress=not args.no_progress,
        )
        result["inputs"] = recall_inputs(ws, args.model, options)
    except (FileNotFoundError, ValueError) as e:
        print(f"benchmarks.recall: error: {e}", file=sys.stderr)
        return 2
    table = format_report(result)
    json_path, md_path = write_report(out, "recall", result, table)
    png = plot_recall(result, out / "recall_at_k.png")
    print(table)
    print(f"\nwrote {json_path}, {md_path}, {png} in {result['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

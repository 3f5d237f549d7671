"""``adsearch demo``: the whole pipeline on the embedded synthetic catalog, reusing whatever is already built.

synth -> ingest -> retriever (the shipped pretrained tag, or trained here with --from-scratch) -> train-captioner
(fine, general) -> caption the test split -> embed -> index
-> recall table (the paper's Table 8) -> search benchmark (each channel alone and fused) -> the search app. A second
run renders, ingests, trains, captions and embeds nothing; it prints the saved recall and search tables when nothing
they depend on changed, and reaches the app in seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adsearch.workspace import Workspace

__all__ = ["run_demo"]

RETRIEVER = "retriever-tiny"
PRETRAINED_TAG = "synth-v1"  # the shipped retriever the demo starts from (adsearch/pretrain.py)
CAPTION_SPLITS = ("test", "test_comp")  # what the recall benchmark queries with generated captions


def _step(name: str) -> float:
    print(f"\n== {name}", flush=True)
    return time.perf_counter()


def _last_log_row(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return json.loads(lines[-1]) if lines else None


def _pretrained_retriever(ws: Workspace) -> None:
    from adsearch.retriever import install_pretrained
    from retrieval.pretrained_tags import tag_dir

    folder, model_id, written = install_pretrained(ws, model="tiny", tag=PRETRAINED_TAG, name=RETRIEVER)
    card = json.loads((tag_dir("tiny", PRETRAINED_TAG) / "config.json").read_text(encoding="utf-8"))
    ref = card["metrics"]["test"]["reference"]
    print(
        f"{'installed' if written else 'reused'} the shipped tiny:{PRETRAINED_TAG} retriever ({model_id}) -> {folder}; "
        f"trained on {card['train_clips']} clips of other synthetic catalogs, never on this one "
        f"(its card: reference R@1 {ref['R@1']:.1f} / R@10 {ref['R@10']:.1f} on the default catalog's test split)"
    )


def _retriever(ws: Workspace) -> None:
    from adsearch.retriever import RECIPES, format_metrics, train_from_catalog

    ckpt = ws.models_dir / RETRIEVER
    last = _last_log_row(ckpt / "train_log.jsonl")
    if (ckpt / "model.safetensors").is_file() and last and last["epoch"] >= RECIPES["tiny"]["epochs"]:
        ev = last.get("eval", {})
        print(f"reused {ckpt} ({last['model_id']}, {last['epoch']} epochs); its last test-split evaluation:")
        print(format_metrics({"test": ev}) if ev else "(no evaluation recorded)")
        return
    run = train_from_catalog(ws, model="tiny", name=RETRIEVER, resume=True)
    print(format_metrics(run.metrics))
    print(f"model {run.model_id} -> {run.checkpoint_dir} in {run.seconds:.1f} s")


def _captioner(ws: Workspace, kind: str) -> None:
    from adsearch.captioner import captioner_dir, train_captioner_from_catalog

    ckpt = captioner_dir(ws, kind)
    state_file, config_file = ckpt / "train_state.json", ckpt / "config.json"
    if state_file.is_file() and config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if state["epoch"] >= config["config"]["recipe"]["epochs"]:
            last = state["log"][-1] if state["log"] else {}
            print(f"reused {ckpt} ({config['model_id']}, {state['epoch']} epochs, last loss {last.get('loss', 0):.3f})")
            return
    run = train_captioner_from_catalog(ws, kind=kind, retriever=RETRIEVER, resume=True)
    print(f"{kind} captioner {run.model_id} -> {run.checkpoint_dir} ({run.seconds:.1f} s)")


def _caption(ws: Workspace, kind: str) -> None:
    from adsearch.captioner import caption_catalog

    for split in CAPTION_SPLITS:
        summary = caption_catalog(ws, kind, split=split)
        print(f"{kind} {split}: {summary.line()}")
    # The description channel of search covers every clip: the other splits get plain greedy descriptions (the
    # benchmark splits above keep the captioner's default decoding; done clips are skipped).
    summary = caption_catalog(ws, kind, split=None, samples=0)
    print(f"{kind} other splits (greedy): {summary.line()}")


def _index(ws: Workspace) -> None:
    from adsearch.index import add_catalogs, export_query_encoder, update_text_indexes

    summary, result = add_catalogs(ws, model=RETRIEVER)
    print(f"embed: {summary.line()}")
    print(result.line())
    for text_result in update_text_indexes(ws, only_if_changed=True):  # description, speech, on-screen text
        print(text_result.line())
    print(export_query_encoder(ws, model=RETRIEVER))  # `adsearch search` then starts without torch


def _recall_inputs(ws: Workspace) -> dict[str, Any]:
    """What the recall table depends on: the published index version and the models that wrote the queries."""
    from indexer.versions import active_version
    from retrieval import read_checkpoint_meta

    model_id = read_checkpoint_meta(ws.models_dir / RETRIEVER)["model_id"]
    captioners = {}
    for kind in ("fine", "general"):
        cfg = ws.models_dir / f"captioner-{kind}" / "config.json"
        captioners[kind] = json.loads(cfg.read_text(encoding="utf-8")).get("model_id") if cfg.is_file() else None
    return {"model_id": model_id, "version": active_version(ws.indexes_dir, model_id), "captioners": captioners}


def _recall(ws: Workspace) -> None:
    from benchmarks._report import write_report
    from benchmarks.recall import format_report, plot_recall, run_recall

    inputs = _recall_inputs(ws)
    saved_json, saved_md = ws.bench_dir / "recall.json", ws.bench_dir / "recall.md"
    if saved_json.is_file() and saved_md.is_file():
        saved = json.loads(saved_json.read_text(encoding="utf-8"))
        if saved.get("demo_inputs") == inputs:
            print(f"nothing changed since {saved_md} was computed; its table:\n")
            print(saved_md.read_text(encoding="utf-8"))
            return
    result = run_recall(ws, model=RETRIEVER)
    result["demo_inputs"] = inputs
    table = format_report(result)
    write_report(ws.bench_dir, "recall", result, table)
    plot_recall(result, ws.bench_dir / "recall_at_k.png")
    print(table)
    print(f"\nwrote {ws.bench_dir}/recall.json, recall.md, recall_at_k.png")


def _search(ws: Workspace) -> None:
    from benchmarks.search import run_or_reuse

    table, reused = run_or_reuse(ws, model=RETRIEVER)
    print(f"nothing changed since {ws.bench_dir / 'search.md'} was computed; its tables:\n" if reused else "", end="")
    print(table)
    if not reused:
        print(f"\nwrote {ws.bench_dir}/search.json, search.md, search_recall.png")


def _synth(ws: Workspace, n_clips: int, seed: int, workers: int) -> Path:
    from corpus.synth import catalog_stats, format_stats, generate_catalog

    synth = generate_catalog(ws.synth_dir(n_clips, seed), n_clips=n_clips, seed=seed, workers=workers, progress=True)
    print(f"synth: {synth.n_videos} videos ({synth.n_rendered} rendered now), {synth.n_clips} clips")
    print(format_stats(catalog_stats(synth.manifest_path, split="test")))
    return synth.manifest_path


def _ingest(ws: Workspace, manifest: Path, workers: int) -> None:
    from indexer.catalog import open_catalog
    from indexer.ingest import IngestOptions, ingest

    opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=False, workers=workers)
    with open_catalog(ws.catalog_path) as cat:
        summary = ingest(manifest, cat, opts=opts, progress=True)
        stats = cat.stats()
    print(summary.line())
    print(f"catalog: {stats['clips']} clips; by split {stats['clips_by_split']}")


def run_demo(
    ws: Workspace,
    *,
    n_clips: int,
    seed: int,
    workers: int,
    serve: bool = True,
    host: str = "127.0.0.1",
    port: int = 7860,
    ocr: bool = True,
    from_scratch: bool = False,
) -> int:
    """Run every stage on the synthetic catalog, print each step's time, then serve the app (unless ``serve``
    is False). The retriever is the shipped ``tiny:synth-v1`` unless ``from_scratch``, which trains it here."""
    times: dict[str, float] = {}

    def timed(name: str, title: str, fn: Callable[[], Any]) -> Any:
        t = _step(title)
        out = fn()
        times[name] = time.perf_counter() - t
        return out

    t0 = time.perf_counter()
    manifest = timed("synth", f"synth: {n_clips} clips, seed {seed}", lambda: _synth(ws, n_clips, seed, workers))
    timed("ingest", "ingest", lambda: _ingest(ws, manifest, workers))
    if ocr:  # the on-screen text of every clip (resumable: a second run reads nothing)
        from adsearch.cli_ocr import ocr_after_ingest

        timed("ocr", "ocr: on-screen text of every clip (rapidocr)", lambda: ocr_after_ingest(ws))
    if from_scratch:
        timed("train-retriever", "train-retriever: tiny CLIP-ViP on the train split", lambda: _retriever(ws))
    else:
        timed("retriever", f"retriever: the shipped tiny:{PRETRAINED_TAG}", lambda: _pretrained_retriever(ws))
    for kind in ("fine", "general"):
        timed(f"train-captioner {kind}", f"train-captioner --kind {kind}", lambda k=kind: _captioner(ws, k))
    for kind in ("fine", "general"):
        title = f"caption --kind {kind} (splits {', '.join(CAPTION_SPLITS)}, then the rest greedily)"
        timed(f"caption {kind}", title, lambda k=kind: _caption(ws, k))
    timed("embed + index", "embed + index add (a build on first use)", lambda: _index(ws))
    timed("recall", "benchmarks.recall: text-to-video recall per query text (paper Table 8)", lambda: _recall(ws))
    timed("search", "benchmarks.search: brand, offer, speech, user queries per channel and fused", lambda: _search(ws))

    print("\n== step times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print(f"total {time.perf_counter() - t0:.1f} s; workspace: {ws.root}")
    if serve:
        from adsearch.app import launch

        print(f"\n== serving the search app on http://{host}:{port}  (Ctrl-C stops)", flush=True)
        launch(ws, host=host, port=port, model=RETRIEVER)
    return 0

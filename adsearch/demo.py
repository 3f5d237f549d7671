"""``adsearch demo``: the whole pipeline on the embedded synthetic catalog, reusing whatever is already built.

synth -> ingest -> retriever and captioners (fine, general: the shipped pretrained tag, or trained here with
--from-scratch) -> caption every clip -> tag every clip's attributes (the shipped tagger; not with --from-scratch,
whose captioners it does not pair with) -> embed -> index
-> recall table (the paper's Table 8) -> search benchmark (each channel alone and fused) -> the search app. A second
run renders, ingests, trains, captions and embeds nothing; it prints the saved recall and search tables when nothing
they depend on changed, and reaches the app in seconds.

The benchmarks run as their own commands (``python -m benchmarks.recall --reuse``, ``python -m benchmarks.search
--reuse``) in a child process whose output is printed here: ``adsearch`` never imports ``benchmarks``
(docs/ARCHITECTURE.md, "Packages and the direction of imports").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adsearch.defaults import (
    DEFAULT_PRETRAINED_TAG,
    DEFAULT_RETRIEVER,
    DEFAULT_RETRIEVER_CONFIG,
)
from adsearch.workspace import Workspace

__all__ = ["run_demo"]

RETRIEVER = DEFAULT_RETRIEVER  # the checkpoint every step reads
CONFIG = DEFAULT_RETRIEVER_CONFIG  # its architecture
PRETRAINED_TAG = DEFAULT_PRETRAINED_TAG  # the shipped retriever and captioners the demo starts from (pretrain.py)
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

    folder, model_id, written = install_pretrained(ws, config=CONFIG, tag=PRETRAINED_TAG, model=RETRIEVER)
    card = json.loads((tag_dir(CONFIG, PRETRAINED_TAG) / "config.json").read_text(encoding="utf-8"))
    ref = card["metrics"]["test"]["reference"]
    print(
        f"{'installed' if written else 'reused'} the shipped {CONFIG}:{PRETRAINED_TAG} retriever ({model_id}) -> "
        f"{folder}; "
        f"trained on {card['train_clips']} clips of other synthetic catalogs, never on this one "
        f"(its card: reference R@1 {ref['R@1']:.1f} / R@10 {ref['R@10']:.1f} on the default catalog's test split)"
    )


def _retriever(ws: Workspace) -> None:
    from adsearch.retriever import format_metrics, train_from_catalog
    from retrieval import get_recipe

    ckpt = ws.models_dir / RETRIEVER
    last = _last_log_row(ckpt / "train_log.jsonl")
    if (ckpt / "model.safetensors").is_file() and last and last["epoch"] >= get_recipe(CONFIG)["epochs"]:
        ev = last.get("eval", {})
        print(f"reused {ckpt} ({last['model_id']}, {last['epoch']} epochs); its last test-split evaluation:")
        print(format_metrics({"test": ev}) if ev else "(no evaluation recorded)")
        return
    run = train_from_catalog(ws, config=CONFIG, model=RETRIEVER, resume=True)
    print(format_metrics(run.metrics))
    print(f"model {run.model_id} -> {run.checkpoint_dir} in {run.seconds:.1f} s")


def _pretrained_captioner(ws: Workspace, kind: str) -> None:
    from adsearch.pretrain_captioners import install_pretrained_captioner
    from captioner import DEFAULT_CONFIGS
    from captioner.pretrained_tags import tag_dir

    folder, model_id = install_pretrained_captioner(ws, kind, PRETRAINED_TAG, retriever=RETRIEVER)
    card = json.loads((tag_dir(DEFAULT_CONFIGS[kind], PRETRAINED_TAG) / "config.json").read_text(encoding="utf-8"))
    print(
        f"the shipped {DEFAULT_CONFIGS[kind]}:{PRETRAINED_TAG} captioner ({model_id}) -> {folder}; trained on "
        f"{card['training']['train_clips']:,} clips of other synthetic catalogs, never on this one"
    )


def _ships_captioner(kind: str) -> bool:
    """Whether the package ships the ``kind`` captioner of the demo's pretrained tag (trained on its retriever)."""
    from captioner import DEFAULT_CONFIGS
    from captioner.pretrained_tags import list_pretrained

    return (DEFAULT_CONFIGS[kind], PRETRAINED_TAG) in list_pretrained()


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


def _tag(ws: Workspace) -> None:
    from adsearch.tagger import install_pretrained_tagger, tag_catalog

    tagger = install_pretrained_tagger(ws, PRETRAINED_TAG)
    print(f"the shipped {PRETRAINED_TAG} attribute tagger ({tagger.model_id}) -> {ws.models_dir / 'tagger'}")
    print(tag_catalog(ws).line())


def _index(ws: Workspace) -> None:
    from adsearch.index import add_catalogs, export_query_encoder, update_text_indexes

    summary, result = add_catalogs(ws, model=RETRIEVER)
    print(f"embed: {summary.line()}")
    print(result.line())
    for text_result in update_text_indexes(ws, only_if_changed=True):  # description, speech, on-screen text
        print(text_result.line())
    print(export_query_encoder(ws, model=RETRIEVER))  # `adsearch search` then starts without torch


def _benchmark(ws: Workspace, module: str) -> None:
    """``python -m benchmarks.<module> --workspace WS --model RETRIEVER --reuse`` in a child process; its output is
    printed here line by line (its progress bars and errors go straight to this process's stderr).

    Raises:
        ValueError: The benchmark failed (its error is printed above, on stderr).
    """
    cmd = [sys.executable, "-m", f"benchmarks.{module}", "--workspace", str(ws.root), "--model", RETRIEVER, "--reuse"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # lines arrive as the benchmark prints them
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, encoding="utf-8", env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
    if proc.returncode:
        raise ValueError(f"`python -m benchmarks.{module}` failed with exit status {proc.returncode} (see above)")


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
    is False). The retriever and the captioners are the shipped ``<DEFAULT_PRETRAINED_TAG>`` ones unless
    ``from_scratch``, which trains them here (so does a tag that ships no captioner of a kind)."""
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
        timed("train-retriever", f"train-retriever: {CONFIG} CLIP-ViP on the train split", lambda: _retriever(ws))
    else:
        timed("retriever", f"retriever: the shipped {CONFIG}:{PRETRAINED_TAG}", lambda: _pretrained_retriever(ws))
    for kind in ("fine", "general"):
        if from_scratch or not _ships_captioner(kind):
            timed(f"train-captioner {kind}", f"train-captioner --kind {kind}", lambda k=kind: _captioner(ws, k))
        else:
            title = f"captioner --kind {kind}: the shipped {PRETRAINED_TAG}"
            timed(f"captioner {kind}", title, lambda k=kind: _pretrained_captioner(ws, k))
    for kind in ("fine", "general"):
        title = f"caption --kind {kind} (splits {', '.join(CAPTION_SPLITS)}, then the rest greedily)"
        timed(f"caption {kind}", title, lambda k=kind: _caption(ws, k))
    if from_scratch:
        print("\n(no attribute tags: the shipped tagger reads the shipped fine captioner's inputs, not these)")
    else:
        timed("tag", f"tag: attributes of every clip (the shipped {PRETRAINED_TAG} tagger)", lambda: _tag(ws))
    timed("embed + index", "embed + index add (a build on first use)", lambda: _index(ws))
    title = "benchmarks.recall: text-to-video recall per query text (paper Table 8)"
    timed("recall", title, lambda: _benchmark(ws, "recall"))
    title = "benchmarks.search: brand, offer, speech, user queries per channel and fused"
    timed("search", title, lambda: _benchmark(ws, "search"))

    print("\n== step times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print(f"total {time.perf_counter() - t0:.1f} s; workspace: {ws.root}")
    if serve:
        from adsearch.app import launch

        print(f"\n== serving the search app on http://{host}:{port}  (Ctrl-C stops)", flush=True)
        launch(ws, host=host, port=port, model=RETRIEVER)
    return 0

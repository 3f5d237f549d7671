"""``adsearch demo``: chain the pipeline's stages on the embedded synthetic catalog, reusing what is built."""

from __future__ import annotations

import time

from adsearch.workspace import Workspace

__all__ = ["run_demo"]


def _step(name: str) -> float:
    print(f"\n== {name}", flush=True)
    return time.perf_counter()


def run_demo(ws: Workspace, *, n_clips: int, seed: int, workers: int) -> int:
    """Generate the synthetic catalog, ingest it, train the retriever and print its text->video recall.

    Every step reuses what an earlier run built (rendered videos, ingested rows, a finished training run), so a
    second run only re-evaluates. Prints each step's time.
    """
    from corpus.synth import catalog_stats, format_stats, generate_catalog
    from indexer.catalog import open_catalog
    from indexer.ingest import IngestOptions, ingest

    times: dict[str, float] = {}
    t = _step(f"synth: {n_clips} clips, seed {seed}")
    synth = generate_catalog(ws.synth_dir(n_clips, seed), n_clips=n_clips, seed=seed, workers=workers, progress=True)
    print(f"synth: {synth.n_videos} videos ({synth.n_rendered} rendered now), {synth.n_clips} clips")
    print(format_stats(catalog_stats(synth.manifest_path, split="test")))
    times["synth"] = time.perf_counter() - t

    t = _step("ingest")
    opts = IngestOptions(thumbs_dir=ws.thumbs_dir, thumbs_relative_to=ws.root, asr=False, workers=workers)
    with open_catalog(ws.catalog_path) as cat:
        summary = ingest(synth.manifest_path, cat, opts=opts, progress=True)
        stats = cat.stats()
    print(summary.line())
    print(f"catalog: {stats['clips']} clips; by split {stats['clips_by_split']}")
    times["ingest"] = time.perf_counter() - t

    from adsearch.retriever import format_metrics, train_from_catalog

    t = _step("train-retriever: tiny CLIP-ViP on the train split (reused when already trained)")
    run = train_from_catalog(ws, model="tiny", resume=True)
    print(format_metrics(run.metrics))
    print(f"model {run.model_id} -> {run.checkpoint_dir}")
    times["train-retriever"] = time.perf_counter() - t

    print("\n== step times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print(f"workspace: {ws.root}")
    return 0

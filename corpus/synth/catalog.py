"""``generate_catalog``: plan, render (in parallel, resumable) and write the manifest of a synthetic ad catalog."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from corpus.manifest import FORMATS, ClipRecord, VideoRecord, write_manifest
from corpus.synth.overlays import OCR_TRUTH_NAME, write_ocr_truth
from corpus.synth.plan import CatalogPlan, VideoSpec, plan_catalog, seed_of
from corpus.synth.queries import USER_QUERIES_NAME, user_queries, write_user_queries
from corpus.synth.render import render_video
from corpus.synth.search_queries import SEARCH_QUERIES_NAME, search_queries, write_search_queries
from corpus.synth.text import describe_shot
from corpus.synth.voiceover import voiceover
from media.progress import progress_bar
from media.workers import die_with_parent

__all__ = ["SynthCatalog", "build_records", "generate_catalog", "video_name"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthCatalog:
    """What :func:`generate_catalog` produced."""

    manifest_path: Path
    n_videos: int
    n_clips: int
    seconds: float  # wall time of the whole call (planning, rendering, manifest)
    n_rendered: int = 0  # videos rendered by this call; the others were already on disk


def video_name(video: VideoSpec, width: int, height: int) -> str:
    """File stem of a video: its index and a digest of its content and frame size, so a stale file is never reused."""
    digest = hashlib.sha256(f"{video!r}/{width}x{height}".encode()).hexdigest()[:10]
    return f"synth-{video.index:05d}-{digest}"


def build_records(plan: CatalogPlan, width: int, height: int) -> list[VideoRecord]:
    """The manifest rows of a plan: clip ranges on frame boundaries, texts, voice-over, labels and split."""
    records = []
    for v in plan.videos:
        clips, frame = [], 0
        for k, shot in enumerate(v.shots):
            texts = describe_shot(shot, random.Random(seed_of("text", v.seed, k)))
            clips.append(
                ClipRecord(
                    start_s=frame / v.fps,
                    end_s=(frame + shot.n_frames) / v.fps,
                    reference=texts.reference,
                    general=texts.general,
                    keywords=texts.keywords,
                )
            )
            frame += shot.n_frames
        records.append(
            VideoRecord(
                uri=f"videos/{video_name(v, width, height)}.mp4",
                clips=tuple(clips),
                asr=voiceover(v, random.Random(seed_of("asr", v.seed))),
                industry=v.industry,
                sub_industry=v.sub_industry,
                product=v.product_label,
                game=v.game,
                split=v.split,
            )
        )
    return records


def _render_one(video: VideoSpec, path: str, width: int, height: int) -> str:
    render_video(video, path, width=width, height=height)
    return path


def generate_catalog(
    out_dir: str | Path,
    *,
    n_clips: int = 1500,
    seed: int = 0,
    width: int = 144,
    height: int = 256,
    fps: int = 10,
    workers: int | None = None,
    manifest_name: str = "manifest.jsonl",
    progress: bool = False,
    avoid: tuple[int, int] | None = None,
) -> SynthCatalog:
    """Generate the synthetic ad catalog: ``out_dir/videos/*.mp4``, ``out_dir/<manifest_name>`` and the on-screen text
    of each clip, ``out_dir/ocr_truth.jsonl`` (``corpus.synth.overlays.write_ocr_truth``), the user-style queries
    of the catalog with their answers, ``out_dir/user_queries.jsonl`` (``corpus.synth.queries``), and the brand,
    offer and speech queries of the search benchmark, ``out_dir/search_queries.jsonl``
    (``corpus.synth.search_queries``).

    The catalog is identical for a seed whatever the number of workers: every video is drawn from (seed, index).
    A video file already present under its expected name is kept, so a killed run resumes; the manifest is
    written last.

    Args:
        out_dir: Output folder (created).
        n_clips: Number of clips (= shots) in the catalog, >= 3.
        seed: Random seed.
        width: Frame width in pixels (even); 9:16 by default.
        height: Frame height in pixels (even).
        fps: Frame rate, 4-30 (8-12 recommended).
        workers: Render processes (default ``os.cpu_count()``); 1 renders in this process.
        manifest_name: Manifest file name; its suffix (.jsonl, .csv, .parquet) picks the format.
        progress: Show a progress bar.
        avoid: ``(n_clips, seed)`` of a catalog (e.g. the default one) whose clip contents and held-out
            combinations this one avoids (``plan_catalog(avoid=...)``): pretraining data.

    Returns:
        A :class:`SynthCatalog` with the manifest path, counts and the time taken.

    Raises:
        ValueError: for an invalid size, worker count, frame rate, clip count or manifest format.
    """
    t0 = time.perf_counter()
    if width < 32 or height < 32 or width % 2 or height % 2:
        raise ValueError(f"width and height must be even and >= 32 (h264 yuv420p), got {width}x{height}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1 or None (= os.cpu_count()), got {workers}")
    if Path(manifest_name).suffix.lower() not in FORMATS or Path(manifest_name).name != manifest_name:
        raise ValueError(
            f"manifest_name must be a file name ending in one of {', '.join(FORMATS)}, got {manifest_name!r}"
        )
    out = Path(out_dir)
    reserved = plan_catalog(avoid[0], seed=avoid[1], fps=fps) if avoid is not None else None
    plan = plan_catalog(n_clips, seed=seed, fps=fps, avoid=reserved)
    records = build_records(plan, width, height)
    todo = [(v, out / r.uri) for v, r in zip(plan.videos, records, strict=True) if not (out / r.uri).is_file()]
    (out / "videos").mkdir(parents=True, exist_ok=True)
    workers = min(workers or os.cpu_count() or 1, max(1, len(todo)))
    _log.info("synth: %d videos planned, %d to render with %d worker(s)", len(plan.videos), len(todo), workers)
    bar = progress_bar(total=len(todo), desc="synth", unit="video", enabled=progress)
    if workers == 1:
        for v, path in todo:
            _render_one(v, str(path), width, height)
            bar.update()
    elif todo:
        # Longest videos first, so that no worker is left with a long one at the end.
        todo.sort(key=lambda vp: -vp[0].n_frames)
        ctx = multiprocessing.get_context("spawn")  # no fork of a parent that may hold threads (torch, duckdb)
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = [pool.submit(_render_one, v, str(path), width, height) for v, path in todo]
            try:
                for f in as_completed(futures):
                    f.result()
                    bar.update()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # do not render the rest of a failed run
                raise
    bar.close()
    write_ocr_truth(plan, records, out / OCR_TRUTH_NAME)  # what each clip shows on screen (benchmarks.ocr)
    write_user_queries(user_queries(plan, [r.uri for r in records]), out / USER_QUERIES_NAME)  # benchmarks.recall
    write_search_queries(search_queries(plan, [r.uri for r in records]), out / SEARCH_QUERIES_NAME)  # benchmarks.search
    manifest = write_manifest(records, out / manifest_name)
    seconds = time.perf_counter() - t0
    n = sum(len(v.shots) for v in plan.videos)
    _log.info(
        "synth: %d videos (%d rendered), %d clips in %.1f s -> %s", len(plan.videos), len(todo), n, seconds, manifest
    )
    return SynthCatalog(
        manifest_path=manifest, n_videos=len(plan.videos), n_clips=n, seconds=seconds, n_rendered=len(todo)
    )

"""Ingest a manifest or a folder of videos into catalog.duckdb: dedupe, probe, clips, thumbnails, ASR.

One video is one transaction, ids are deterministic (``indexer.ids``), and every video already in the catalog is
skipped, so a second run does nothing new and a run killed at any point, run again, ends with the same catalog as
an uninterrupted one. A file that cannot be read becomes a ``status='failed'`` row with the error; the batch goes on.
A folder scan accounts for every entry: each one named like a video (a directory, a dangling link, a pipe too) gets
a row, the others are counted as ignored. Worker processes die with the process that started them, even when it is
killed with SIGKILL.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import stat
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from corpus.manifest import FORMATS, Manifest, ManifestRowError, VideoRecord, read_manifest, resolve_uri
from indexer.catalog import Catalog, ClipRow, VideoRow
from indexer.ids import MAX_SHOTS, clip_id, failure_video_id, video_id_for_content
from media.progress import progress_bar
from media.workers import die_with_parent

__all__ = ["VIDEO_SUFFIXES", "FolderScan", "IngestOptions", "IngestSummary", "ingest", "load_source"]

_log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (  # what a folder scan picks up; a file that turns out unreadable becomes a failed row
    *(".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m1v", ".m2v", ".vob", ".ts", ".mts"),
    *(".m2ts", ".flv", ".f4v", ".wmv", ".asf", ".3gp", ".3g2", ".rm", ".rmvb", ".ogv"),
)
_CLIP_END_TOLERANCE_S = 0.25  # manifest clip ends this far past the decoded duration are clamped, further fail


@dataclass(frozen=True)
class IngestOptions:
    """How to ingest; the defaults suit a catalog of short ads."""

    thumbs_dir: Path  # where <clip_id>.jpg thumbnails go
    thumbs_relative_to: Path  # stored thumb paths are relative to this folder (the workspace root)
    asr: bool = True  # transcribe videos whose manifest row has no transcript
    asr_model: str | None = None  # faster-whisper model path or size; None: the packaged Whisper tiny.en
    retry_failed: bool = False  # process again the rows a previous run recorded as failed
    workers: int = 1  # processes for probing, shots, thumbnails and ASR; 1 runs in this process
    thumb_width: int = 256  # thumbnail width in pixels


@dataclass
class IngestSummary:
    """Counts of one ingest run."""

    catalog_id: str
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # already in the catalog, or the same content as another video
    ignored: int = 0  # folder entries that are not named like videos (a .txt, a .jpg, a link to a folder)
    clips: int = 0
    seconds: float = 0.0
    failures: list[tuple[str | None, int | None, str]] = field(default_factory=list)  # (uri, row, error)
    warnings: list[tuple[str | None, int | None, str]] = field(default_factory=list)  # (uri, row, warning)

    def line(self) -> str:
        rate = self.clips / self.seconds if self.seconds > 0 else 0.0
        extra = f", {self.ignored} other entries ignored (not named like videos)" if self.ignored else ""
        extra += f", {len(self.warnings)} warnings (texts cut to size)" if self.warnings else ""
        return (
            f"ingest {self.catalog_id}: {self.ok} ok, {self.failed} failed, {self.skipped} skipped{extra}; "
            f"{self.clips} clips in {self.seconds:.1f} s ({rate:.1f} clips/s)"
        )

    def as_dict(self) -> dict:
        return {
            "catalog_id": self.catalog_id,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "ignored": self.ignored,
            "clips": self.clips,
            "seconds": round(self.seconds, 3),
            "failures": [{"uri": u, "row": r, "error": e} for u, r, e in self.failures],
            "warnings": [{"uri": u, "row": r, "warning": w} for u, r, w in self.warnings],
        }


@dataclass
class FolderScan(Manifest):
    """The rows of a folder of videos: one per entry named like a video, whatever it turns out to be."""

    problems: dict[str, str] = field(default_factory=dict)  # uri -> why it cannot be read, known from the scan
    ignored: list[str] = field(default_factory=list)  # entries not named like videos (relative paths, escaped)


def _storable(text: str) -> str:
    """``text`` as valid UTF-8 (what DuckDB stores): bytes of a file name that were not UTF-8 escaped as \\xff."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _scan_folder(source: Path) -> FolderScan:
    """Every entry under ``source`` named like a video becomes a row; the rest are counted as ignored.

    Directories are walked without following symbolic links (no loops); a directory or a link named like a video
    still gets its row, which fails with the reason at ingest.
    """
    found: list[Path] = []
    scan = FolderScan(path=source / "manifest.jsonl")  # no manifest file: paths are relative to the folder itself

    def unreadable(e: OSError) -> None:
        rel = os.path.relpath(e.filename, source) if e.filename else "?"
        scan.ignored.append(_storable(rel))
        _log.warning("cannot list %s: %s", _storable(str(e.filename)), e.strerror)

    for dirpath, dirnames, filenames in os.walk(source, onerror=unreadable):
        dirnames.sort()
        for name in (*dirnames, *filenames):
            p = Path(dirpath) / name
            if p.suffix.lower() in VIDEO_SUFFIXES:
                found.append(p)
            elif name in filenames or p.is_symlink():  # plain folders are walked, not counted
                scan.ignored.append(_storable(str(p.relative_to(source))))
    for i, p in enumerate(sorted(found), start=1):
        rel = str(p.relative_to(source))
        uri = _storable(rel)
        if uri != rel:
            scan.problems[uri] = "the file name is not valid UTF-8; rename the file"
        scan.records.append(VideoRecord(uri=uri, row=i))
    if scan.ignored:
        _log.info("%s: %d entries not named like videos ignored", source, len(scan.ignored))
    return scan


def load_source(source: str | Path) -> Manifest:
    """A manifest file, a folder holding ``manifest.{jsonl,csv,parquet}``, or a folder of video files.

    Raises:
        FileNotFoundError: the source does not exist.
        ValueError: a folder holds more than one manifest, or a file is not a manifest.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"nothing to ingest at {source}: give a manifest ({', '.join(FORMATS)}) or a folder")
    if source.is_file():
        return read_manifest(source)
    manifests = [source / f"manifest{s}" for s in FORMATS if (source / f"manifest{s}").is_file()]
    if len(manifests) > 1:
        raise ValueError(f"{source} holds several manifests ({', '.join(m.name for m in manifests)}); name one")
    if manifests:
        return read_manifest(manifests[0])
    return _scan_folder(source)


def _check_video_path(path: Path) -> None:
    """Raise, with the reason in words, unless ``path`` is a readable regular file (never opens it: a pipe blocks)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise FileNotFoundError(
                f"a dangling symbolic link: {path} points to {os.readlink(path)}, which does not exist"
            ) from None
        raise FileNotFoundError(f"no such file: {path}") from None
    except OSError as e:
        raise OSError(f"cannot read {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path} is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path} is not a regular file (a pipe, socket or device); expected a video file")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{path} is not readable (permission denied)")


def _sha256(path: Path) -> tuple[str, int] | OSError:
    """(hex digest, size) of a file, or the error that stopped reading it (deleted or unreadable meanwhile)."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        return h.hexdigest(), path.stat().st_size
    except OSError as e:
        return e


@dataclass(frozen=True)
class _Task:
    """What a worker needs to turn one readable file into catalog rows."""

    video: VideoRow  # ok so far: id, hash, labels
    record: VideoRecord
    opts: IngestOptions


def _clip_ranges(task: _Task, duration_s: float) -> tuple[list[tuple[float, float]], bool | None, float | None]:
    from media import detect_shots

    if task.record.clips is None:
        det = detect_shots(task.video.path)
        return list(det.clips), det.fragmented, det.fragment_share
    ranges = []
    for i, c in enumerate(task.record.clips):
        if c.start_s >= duration_s or c.end_s > duration_s + _CLIP_END_TOLERANCE_S:
            raise ValueError(f"clips[{i}] = [{c.start_s}, {c.end_s}] s lies past the video's end at {duration_s:.2f} s")
        ranges.append((c.start_s, min(c.end_s, duration_s)))
    return ranges, None, None


def _asr_texts(
    task: _Task, ranges: Sequence[tuple[float, float]], has_audio: bool
) -> tuple[list[tuple[str, str] | None], str | None]:
    """(per clip (text, source) of the transcript or None, the Whisper source when Whisper ran here)."""
    if task.record.asr:
        return [(task.record.asr, "manifest")] * len(ranges), None
    if not (task.opts.asr and has_audio):
        return [None] * len(ranges), None
    from media import transcribe
    from media.asr import whisper_source, words_in_ranges  # shared with indexer.transcribe: the same texts

    tr = transcribe(task.video.path, model=task.opts.asr_model)
    source = whisper_source(task.opts.asr_model)
    return [(words, source) if words else None for words in words_in_ranges(tr, ranges)], source


def _process(task: _Task) -> tuple[VideoRow, list[ClipRow]]:
    """Probe, clips, thumbnails and ASR of one video; a bad file comes back as a failed VideoRow."""
    from media import probe, write_thumbnail

    v = task.video
    try:
        info = probe(v.path)
        ranges, fragmented, share = _clip_ranges(task, info.duration_s)
        if len(ranges) > MAX_SHOTS:
            raise ValueError(f"{len(ranges)} clips is more than the {MAX_SHOTS} a video may have")
        asr, transcribed_by = _asr_texts(task, ranges, info.has_audio)
        clips = []
        for i, (start, end) in enumerate(ranges):
            cid = clip_id(v.video_id, i)
            thumb = task.opts.thumbs_dir / f"{cid}.jpg"
            write_thumbnail(v.path, start, end, thumb, width=task.opts.thumb_width)
            texts = []
            meta = task.record.clips[i] if task.record.clips is not None else None
            if meta is not None:
                texts += [(k, getattr(meta, k), "manifest") for k in ("reference", "general") if getattr(meta, k)]
                if meta.keywords:
                    texts.append(("keywords", "; ".join(meta.keywords), "manifest"))
            if asr[i] is not None:
                texts.append(("asr", *asr[i]))
            rel = os.path.relpath(thumb, task.opts.thumbs_relative_to)
            clips.append(ClipRow(cid, v.video_id, i, start, end, thumb=rel, texts=tuple(texts)))
    except Exception as e:  # any failure of one file is recorded and the batch goes on
        _log.warning("failed: %s: %s", v.uri, e)
        return replace(v, status="failed", error=f"{type(e).__name__}: {e}"), []
    video = replace(
        v,
        duration_s=info.duration_s,
        fps=info.fps,
        frame_count=info.frame_count,
        width=info.width,
        height=info.height,
        has_audio=info.has_audio,
        fragmented=fragmented,
        fragment_share=share,
        transcribed_by=transcribed_by,
    )
    return video, clips


def _labels(rec: VideoRecord) -> dict:
    return {k: getattr(rec, k) for k in ("industry", "sub_industry", "product", "game", "split")}


def _failed_row(catalog_id: str, err: ManifestRowError) -> VideoRow:
    return VideoRow(
        video_id=failure_video_id(catalog_id, None, err.row),  # by row: a valid row may name the same uri
        catalog_id=catalog_id,
        status="failed",
        uri=err.uri,
        manifest_row=err.row,
        error=str(err),
    )


def _run_tasks(tasks: list[_Task], workers: int) -> Iterator[tuple[VideoRow, list[ClipRow]]]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_process, tasks)
        return
    # spawn: decord and torch hold threads that do not survive fork
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        futures: list[Future] = [pool.submit(_process, t) for t in tasks]
        for fut in futures:  # in submission order, so logs and progress read in manifest order
            yield fut.result()


def ingest(
    source: str | Path | Manifest,
    catalog: Catalog,
    *,
    opts: IngestOptions,
    catalog_id: str | None = None,
    progress: bool = False,
) -> IngestSummary:
    """Ingest every video of a manifest or folder into the catalog.

    Args:
        source: A manifest path, a folder (with a ``manifest.*`` or just video files), or a read manifest.
        catalog: The open catalog to write to.
        opts: Thumbnails, ASR, workers and retry policy.
        catalog_id: Name of this batch; default: the name of the folder the manifest or videos are in.
        progress: Show a progress bar.

    Returns:
        The run's counts; failures are also rows of ``videos`` with ``status='failed'``.
    """
    t0 = time.perf_counter()
    manifest = source if isinstance(source, Manifest) else load_source(source)
    catalog_id = _storable(catalog_id or manifest.base_dir.resolve().name)
    summary = IngestSummary(catalog_id=catalog_id)
    problems: dict[str, str] = {}
    if isinstance(manifest, FolderScan):
        summary.ignored = len(manifest.ignored)
        problems = manifest.problems
    summary.warnings = [(w.uri, w.row, str(w)) for w in manifest.warnings]
    run_id = uuid.uuid4().hex
    catalog.ensure_catalog(catalog_id, _storable(str(manifest.path)))
    catalog.start_run(run_id, "ingest", catalog_id)

    def record_failure(row: VideoRow, replace_existing: bool = False) -> None:
        catalog.write_video(row, replace=replace_existing)
        summary.failed += 1
        summary.failures.append((row.uri, row.manifest_row, row.error or ""))

    for err in manifest.errors:  # malformed rows: recorded once, like any other failed input
        row = _failed_row(catalog_id, err)
        status = catalog.video_status(row.video_id)
        if status is None or (status == "failed" and opts.retry_failed):
            record_failure(row, replace_existing=status is not None)
        else:
            summary.skipped += 1

    # 1. resolve paths and skip what an earlier run finished (cheap: no file is read)
    pending: list[tuple[VideoRecord, Path]] = []
    for rec in manifest.records:
        fid = failure_video_id(catalog_id, rec.uri, rec.row)
        # done: this uri read before (it has a hash), or this uri failed before it could be read (id fid)
        done = catalog.query(
            "SELECT video_id, status FROM videos "
            "WHERE catalog_id = ? AND ((uri = ? AND sha256 IS NOT NULL) OR video_id = ?)",
            [catalog_id, rec.uri, fid],
        )
        if done and not (opts.retry_failed and all(d["status"] == "failed" for d in done)):
            summary.skipped += 1
            continue
        for d in done:  # a retried failure: its old row goes when the new one is written
            catalog.con.execute("DELETE FROM videos WHERE video_id = ? AND status = 'failed'", [d["video_id"]])
        try:
            if rec.uri in problems:
                raise ValueError(problems[rec.uri])
            path = resolve_uri(rec.uri, manifest.base_dir)
            if _storable(str(path)) != str(path):
                raise ValueError(f"the path {_storable(str(path))} is not valid UTF-8; rename its folders")
            _check_video_path(path)
        except (ValueError, OSError, RuntimeError) as e:  # RuntimeError: "~user" with no such user
            record_failure(
                VideoRow(
                    fid,
                    catalog_id,
                    "failed",
                    uri=rec.uri,
                    manifest_row=rec.row,
                    error=f"{type(e).__name__}: {e}",
                    **_labels(rec),
                )
            )
            continue
        pending.append((rec, path))

    # 2. content hashes (threads: hashlib releases the GIL), dedupe against the catalog and within the batch
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = list(pool.map(lambda p: _sha256(p[1]), pending))
    tasks: list[_Task] = []
    seen: set[str] = set()
    for (rec, path), hashed in zip(pending, hashes, strict=True):
        if isinstance(hashed, OSError):  # the file went away or became unreadable since it was checked
            fid = failure_video_id(catalog_id, rec.uri, rec.row)
            error = f"{type(hashed).__name__}: cannot read {path}: {hashed.strerror or hashed}"
            record_failure(VideoRow(fid, catalog_id, "failed", uri=rec.uri, manifest_row=rec.row, error=error))
            continue
        sha, size = hashed
        vid = video_id_for_content(sha)
        existing = catalog.con.execute("SELECT status FROM videos WHERE video_id = ?", [vid]).fetchone()
        if sha in seen or (existing and existing[0] == "ok"):
            _log.info("skipped %s: same content as a video already ingested", rec.uri)
            summary.skipped += 1
            continue
        if existing:  # the same bytes failed before under another uri; retrying replaces that row
            catalog.con.execute("DELETE FROM videos WHERE video_id = ?", [vid])
        seen.add(sha)
        row = VideoRow(
            vid,
            catalog_id,
            "ok",
            uri=rec.uri,
            path=str(path),
            manifest_row=rec.row,
            sha256=sha,
            size_bytes=size,
            **_labels(rec),
        )
        tasks.append(_Task(row, rec, opts))

    # 3. probe, clips, thumbnails, ASR (worker processes), written one video per transaction
    bar = progress_bar(total=len(tasks), desc=f"ingest {catalog_id}", unit="video", enabled=progress)
    for video, clips in _run_tasks(tasks, opts.workers):
        if video.status == "ok":
            catalog.write_video(video, clips)
            summary.ok += 1
            summary.clips += len(clips)
        else:
            record_failure(video)
        bar.set_postfix(ok=summary.ok, failed=summary.failed, clips=summary.clips, refresh=False)
        bar.update(1)
    bar.close()
    summary.seconds = time.perf_counter() - t0
    catalog.finish_run(run_id, summary.as_dict())
    _log.info("%s", summary.line())
    return summary

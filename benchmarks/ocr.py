"""OCR benchmark: recall and precision of the on-screen strings of a synthetic catalog, and throughput.

    python -m benchmarks.ocr [--workspace W] [--limit N] [--frames 3] [--threads 2]

Reads the clips of every ingested synthetic catalog whose manifest folder holds ``ocr_truth.jsonl`` (written by
``adsearch synth``: what each clip shows on screen) with the same runner and engine as ``adsearch ocr`` (the
catalog is only read; nothing is stored), and scores the lines against the truth:

* strings are compared after :func:`normalize`: Unicode NFKC, upper case, every character other than letters,
  digits, ``$ € £ ¥ %`` and ``.`` removed (so spaces, ``-`` and ``!`` do not count: "50% off" matches "50% OFF",
  "30%" matches "-30%"), dots at either end stripped; a currency sign must match ("29" does not match "$29");
* **recall**: the share of overlay strings (brand, price, badge, call to action, HUD score: drawn over every frame
  of the clip) equal to one read line of their clip, or to two read lines joined (a string read in two pieces);
* **precision**: the share of read lines (distinct per clip) equal to a string of their clip, a word of one, or
  the text of a product label (labels are on screen too, but small and moving: not required for recall);
* **throughput**: clips per second of wall time for the whole run (decode + OCR), on this machine as loaded at
  the time: the load average is recorded beside it.

Writes ``ocr.json`` and ``ocr.md`` under ``<workspace>/bench/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._report import markdown_table, write_report

__all__ = ["ClipScore", "load_truth", "main", "normalize", "run_benchmark", "score_clip", "summarize"]

OVERLAY_ROLES = ("brand", "price", "badge", "cta", "hud")  # drawn over every frame: recall counts these
TRUTH_NAME = "ocr_truth.jsonl"
_DROP = re.compile(r"[^0-9A-Z$€£¥%.]")


def normalize(s: str) -> str:
    """The form two strings are compared in (see the module docstring): ``normalize(" -30 % ") == "30%"``."""
    return _DROP.sub("", unicodedata.normalize("NFKC", s).upper()).strip(".")


@dataclass
class ClipScore:
    """One clip's matches: overlay strings found/missed, read lines correct/wrong."""

    found: list[str] = field(default_factory=list)  # overlay strings read
    missed: list[str] = field(default_factory=list)  # overlay strings not read
    correct: list[str] = field(default_factory=list)  # read lines that match a string of the clip
    wrong: list[str] = field(default_factory=list)  # read lines that match none
    roles_found: dict[str, int] = field(default_factory=dict)
    roles_total: dict[str, int] = field(default_factory=dict)


def score_clip(truth: Sequence[tuple[str, str]], lines: Iterable[str]) -> ClipScore:
    """Match one clip's read ``lines`` against its ``truth`` ``(text, role)`` pairs (see the module docstring)."""
    read: list[str] = []
    for line in lines:
        n = normalize(line)
        if n and n not in read:
            read.append(n)
    joined = set(read) | {a + b for a in read for b in read if a != b}
    out = ClipScore()
    for text, role in truth:
        if role not in OVERLAY_ROLES:
            continue
        out.roles_total[role] = out.roles_total.get(role, 0) + 1
        if normalize(text) in joined:
            out.found.append(text)
            out.roles_found[role] = out.roles_found.get(role, 0) + 1
        else:
            out.missed.append(text)
    allowed = {normalize(t) for t, _ in truth} | {normalize(w) for t, _ in truth for w in t.split()}
    for n in read:
        (out.correct if n in allowed else out.wrong).append(n)
    return out


def summarize(scores: Sequence[ClipScore]) -> dict[str, Any]:
    """Recall, precision and per-role recall over clips' scores (None where there is nothing to divide)."""
    found = sum(len(s.found) for s in scores)
    total = found + sum(len(s.missed) for s in scores)
    correct = sum(len(s.correct) for s in scores)
    read = correct + sum(len(s.wrong) for s in scores)
    roles: dict[str, dict[str, Any]] = {}
    for role in OVERLAY_ROLES:
        n = sum(s.roles_total.get(role, 0) for s in scores)
        k = sum(s.roles_found.get(role, 0) for s in scores)
        roles[role] = {"strings": n, "found": k, "recall": k / n if n else None}
    return {
        "clips": len(scores),
        "overlay_strings": total,
        "found": found,
        "recall": found / total if total else None,
        "lines_read": read,
        "lines_correct": correct,
        "precision": correct / read if read else None,
        "by_role": roles,
    }


def load_truth(ws: Any) -> dict[int, list[tuple[str, str]]]:
    """Clip id -> its on-screen ``(text, role)`` pairs, for the ingested catalogs whose manifest folder holds
    ``ocr_truth.jsonl`` (rows matched on the video's manifest uri and the clip's index in it).

    Raises:
        FileNotFoundError: no catalog, or no ingested catalog has a truth file.
    """
    from indexer.catalog import open_catalog

    if not ws.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog at {ws.catalog_path}: run `adsearch synth` and `adsearch ingest` first")
    out: dict[int, list[tuple[str, str]]] = {}
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        catalogs = cat.query("SELECT catalog_id, source FROM catalogs WHERE source IS NOT NULL ORDER BY catalog_id")
        for c in catalogs:
            truth_path = Path(c["source"]).parent / TRUTH_NAME
            if not truth_path.is_file():
                continue
            clip_ids = {
                (r["uri"], r["shot_index"]): r["clip_id"]
                for r in cat.query(
                    "SELECT v.uri, c.shot_index, c.clip_id FROM clips c JOIN videos v USING (video_id) "
                    "WHERE v.catalog_id = ? AND v.status = 'ok'",
                    [c["catalog_id"]],
                )
            }
            for line in truth_path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                clip_id = clip_ids.get((row["uri"], row["clip"]))
                if clip_id is not None:
                    out[clip_id] = [(t["text"], t["role"]) for t in row["texts"]]
    if not out:
        raise FileNotFoundError(
            f"no ingested catalog in {ws.catalog_path} has an {TRUTH_NAME} beside its manifest "
            "(generate one with `adsearch synth`, then `adsearch ingest` its manifest)"
        )
    return out


def run_benchmark(
    ws: Any, *, options: Any = None, threads: int = 2, limit: int | None = None, progress: bool = True
) -> dict[str, Any]:
    """Read the truth clips (the first ``limit`` by clip id) and score them; returns the result dict."""
    from adsearch.ocr import ocr_items, run_ocr
    from media.ocr import OcrEngine

    truth = load_truth(ws)
    items = [it for it in ocr_items(ws) if it.clip_id in truth][:limit]
    t_load = time.perf_counter()
    engine = OcrEngine(options, threads=threads)
    load_s = time.perf_counter() - t_load
    results: dict[int, Any] = {}

    def write(batch: Sequence[Any], outs: Sequence[Any]) -> None:
        results.update((it.clip_id, r) for it, r in zip(batch, outs, strict=True))

    load_before, cpu0 = os.getloadavg(), time.process_time()
    summary = run_ocr(engine, items, write=write, workers=threads, progress=progress)
    load_after, cpu_s = os.getloadavg(), time.process_time() - cpu0
    scores = {cid: score_clip(truth[cid], [ln.text for ln in r.lines]) for cid, r in results.items()}
    result = summarize(list(scores.values()))
    sampled = sum(r.frames_sampled for r in results.values())
    result.update(
        {
            "failed": summary.failed,
            "failures": [list(f) for f in summary.failures[:20]],
            "seconds": summary.seconds,
            "clips_per_s": summary.items_per_s,
            "cpu_s": cpu_s,  # CPU time of this process (all threads: decode + OCR) during the run
            "cpu_ms_per_clip": 1000 * cpu_s / max(1, summary.done),
            "model_load_s": load_s,
            "frames_sampled": sampled,
            "frames_read": sum(r.frames_read for r in results.values()),
            "boxes_recognized": sum(r.boxes_recognized for r in results.values()),
            "boxes_reused": sum(r.boxes_reused for r in results.values()),
            "source": engine.source,
            "options": asdict(engine.options),
            "threads": threads,
            "cpu_count": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
            "time_split_s": {"wait_reads": summary.wait_s, "ocr": summary.map_s, "write": summary.write_s},
            "missed": [{"clip_id": c, "strings": s.missed} for c, s in scores.items() if s.missed][:50],
            "wrong": [{"clip_id": c, "lines": s.wrong} for c, s in scores.items() if s.wrong][:50],
        }
    )
    return result


def format_report(result: dict[str, Any]) -> str:
    """The markdown report: overall figures and recall per role."""

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}%"

    overall = [
        {
            "clips": result["clips"],
            "recall": pct(result["recall"]),
            "precision": pct(result["precision"]),
            "strings": result["overlay_strings"],
            "lines": result["lines_read"],
            "clips/s": f"{result['clips_per_s']:.2f}",
            "CPU ms/clip": f"{result['cpu_ms_per_clip']:.0f}",
            "frames read": f"{result['frames_read']}/{result['frames_sampled']}",
            "load": f"{result['loadavg_before'][0]:.1f} → {result['loadavg_after'][0]:.1f}",
        }
    ]
    cols = [(k, lambda r, k=k: r[k]) for k in overall[0]]
    roles = [{"role": k, **v, "recall": pct(v["recall"])} for k, v in result["by_role"].items()]
    role_cols = [(k, lambda r, k=k: r[k]) for k in ("role", "strings", "found", "recall")]
    return "\n".join(
        [
            f"## OCR ({result['source']}, {result['options']['frames']} frames/clip, {result['threads']} threads, "
            f"{result['cpu_count']} CPUs; load average before → after)",
            "",
            markdown_table(overall, cols),
            "",
            markdown_table(roles, role_cols),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    from adsearch.workspace import Workspace
    from media.ocr import OcrOptions

    p = argparse.ArgumentParser(prog="python -m benchmarks.ocr", description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", default=None, help="workspace (default $ADSEARCH_HOME or ./workspace)")
    p.add_argument("--limit", type=int, default=None, help="read only the first N truth clips (default: all)")
    p.add_argument("--frames", type=int, default=OcrOptions.frames, help="frames per clip (default %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="clips read in parallel (default %(default)s)")
    args = p.parse_args(argv)
    ws = Workspace.resolve(args.workspace)
    try:
        result = run_benchmark(ws, options=OcrOptions(frames=args.frames), threads=args.threads, limit=args.limit)
    except (FileNotFoundError, ValueError) as e:
        print(f"benchmarks.ocr: error: {e}", file=sys.stderr)
        return 2
    table = format_report(result)
    json_path, md_path = write_report(ws.bench_dir, "ocr", result, table)
    print(table)
    print(f"\nwrote {json_path}, {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

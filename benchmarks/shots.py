"""Shot-detection accuracy on a catalog with known cuts: precision and recall of cut positions within a tolerance.

    python -m benchmarks.shots --manifest workspace/catalogs/synth-1000-s0/manifest.jsonl

The manifest's clip ranges are the ground truth (the synthetic generator's shots, cut frame = round(start_s * fps)).
Prints a table and writes ``shots.json`` under ``--out`` (default ``<workspace>/bench``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "match_cuts"]


def match_cuts(predicted: Sequence[int], true: Sequence[int], *, tolerance: int = 1) -> tuple[int, int, int]:
    """Greedy one-to-one matching of cut frames within ``tolerance`` frames; returns (true pos., false pos., misses).

    Each true cut is matched to at most one predicted cut (the nearest unmatched one), so a cut detected twice
    counts one hit and one false positive.
    """
    unmatched = sorted(predicted)
    tp = 0
    for t in sorted(true):
        best = min((p for p in unmatched if abs(p - t) <= tolerance), key=lambda p: abs(p - t), default=None)
        if best is not None:
            unmatched.remove(best)
            tp += 1
    return tp, len(unmatched), len(true) - tp


def main(argv: Sequence[str] | None = None) -> int:
    from adsearch.workspace import Workspace
    from corpus.manifest import read_manifest, resolve_uri
    from media import detect_shots, probe
    from media.progress import progress_bar

    p = argparse.ArgumentParser(prog="python -m benchmarks.shots", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", required=True, help="manifest whose clips are the true shots")
    p.add_argument("--tolerance", type=int, default=1, help="frames a cut may be off by (default %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="only the first N videos")
    p.add_argument("--workspace", default=None, help="workspace (for the default --out)")
    p.add_argument("--out", default=None, help="output folder (default: <workspace>/bench)")
    args = p.parse_args(argv)

    manifest = read_manifest(args.manifest)
    records = [r for r in manifest.records if r.clips][: args.limit]
    if not records:
        print(f"error: {args.manifest} has no rows with clips to compare against", file=sys.stderr)
        return 2
    tp = fp = fn = 0
    fragmented = 0
    t0 = time.perf_counter()
    for rec in progress_bar(records, desc="detect shots", unit="video"):
        path = resolve_uri(rec.uri, manifest.base_dir)
        fps = probe(path).fps
        true = [round(c.start_s * fps) for c in rec.clips[1:]]
        det = detect_shots(path)
        a, b, c = match_cuts(det.cuts, true, tolerance=args.tolerance)
        tp, fp, fn = tp + a, fp + b, fn + c
        fragmented += det.fragmented
    seconds = time.perf_counter() - t0
    result = {
        "manifest": str(Path(args.manifest).resolve()),
        "videos": len(records),
        "true_cuts": tp + fn,
        "predicted_cuts": tp + fp,
        "tolerance_frames": args.tolerance,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "fragmented_videos": fragmented,
        "seconds": round(seconds, 2),
    }
    print(f"| videos | true cuts | predicted | precision | recall (±{args.tolerance} frame) | fragmented | time |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {result['videos']} | {result['true_cuts']} | {result['predicted_cuts']} | {result['precision']:.4f} "
        f"| {result['recall']:.4f} | {fragmented} | {seconds:.1f} s |"
    )
    out = Path(args.out) if args.out else Workspace.resolve(args.workspace).bench_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "shots.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'shots.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

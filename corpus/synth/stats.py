"""Figures of a catalog's texts: how distinctive descriptions are, how ambiguous general captions are, sizes, labels."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from corpus.manifest import LABELS, SPLITS, read_manifest

__all__ = ["catalog_stats", "format_stats"]

_WORD = re.compile(r"[\w$%'-]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def catalog_stats(manifest_path: str | Path, *, split: str = "test") -> dict[str, Any]:
    """Statistics of a manifest's texts, computed on the clips of ``split``, plus catalog-wide counts and labels.

    Returns:
        A dict with: ``split``, ``n_videos`` and ``n_clips`` (of the split), ``unique_description_share`` (clips
        whose description occurs once in the split), ``mean_clips_per_general`` (mean over clips of the number of
        clips of the split with the same general caption, itself included), ``distinct_general``,
        ``mean_words_description``, ``mean_words_general``, ``max_words_general``, ``vocab_description``,
        ``vocab_general``, ``vocab_asr`` (distinct lower-cased words), ``splits`` ({split: {videos, clips}}) and
        ``labels`` ({label: {value: share of videos}}).

    Raises:
        FileNotFoundError: when the manifest does not exist.
        ValueError: for an unknown split, or a split without clips that have both texts.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    manifest = read_manifest(manifest_path)
    records = manifest.records
    in_split = [r for r in records if r.split == split]
    clips = [c for r in in_split for c in (r.clips or ()) if c.reference and c.general]
    if not clips:
        raise ValueError(f"{manifest_path}: split {split!r} has no clips with a reference and a general caption")
    refs = Counter(c.reference for c in clips)
    gens = Counter(c.general for c in clips)
    splits = {
        s: {
            "videos": sum(r.split == s for r in records),
            "clips": sum(len(r.clips or ()) for r in records if r.split == s),
        }
        for s in SPLITS
    }
    labels = {}
    for name in LABELS:
        counts = Counter(getattr(r, name) or "(none)" for r in records)
        labels[name] = {k: v / len(records) for k, v in counts.most_common()}
    return {
        "manifest": str(manifest_path),
        "split": split,
        "n_videos": len(in_split),
        "n_clips": len(clips),
        "unique_description_share": sum(refs[c.reference] == 1 for c in clips) / len(clips),
        "mean_clips_per_general": _mean([gens[c.general] for c in clips]),
        "distinct_general": len(gens),
        "mean_words_description": _mean([len(_words(c.reference)) for c in clips]),
        "mean_words_general": _mean([len(_words(c.general)) for c in clips]),
        "max_words_general": max(len(_words(c.general)) for c in clips),
        "vocab_description": len({w for c in clips for w in _words(c.reference)}),
        "vocab_general": len({w for c in clips for w in _words(c.general)}),
        "vocab_asr": len({w for r in in_split for w in _words(r.asr or "")}),
        "splits": splits,
        "labels": labels,
        "manifest_errors": len(manifest.errors),
    }


def format_stats(stats: dict[str, Any]) -> str:
    """A plain-text table of :func:`catalog_stats`' figures."""
    s = stats
    rows = [
        (f"clips ({s['split']})", f"{s['n_clips']}  in {s['n_videos']} videos"),
        ("unique fine descriptions", f"{100 * s['unique_description_share']:.1f}%  (target >= 95%)"),
        (
            "clips per general caption",
            f"{s['mean_clips_per_general']:.2f}  (target >= 5; {s['distinct_general']} distinct captions)",
        ),
        ("words per description", f"{s['mean_words_description']:.1f}  (target 30-60)"),
        ("words per general caption", f"{s['mean_words_general']:.1f}  (max {s['max_words_general']}, target <= 12)"),
        ("vocabulary", f"descriptions {s['vocab_description']}, captions {s['vocab_general']}, ASR {s['vocab_asr']}"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines.append("")
    lines.append(f"{'split'.ljust(10)} {'videos':>7} {'clips':>7}")
    for name, c in s["splits"].items():
        lines.append(f"{name.ljust(10)} {c['videos']:>7} {c['clips']:>7}")
    for label, shares in s["labels"].items():
        lines.append("")
        lines.append(f"{label} (share of videos)")
        lines.extend(f"  {k.ljust(24)} {100 * v:5.1f}%" for k, v in shares.items())
    if s.get("manifest_errors"):
        lines.append(f"\nmanifest rows with errors: {s['manifest_errors']}")
    return "\n".join(lines)

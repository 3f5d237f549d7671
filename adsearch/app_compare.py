"""The app's Compare tab: a clip's generated general caption vs its fine description as search queries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COMPARE_SPLIT", "TOP_N", "CompareResult", "Side", "another_choice", "compare_choices", "compare_clip"]

COMPARE_SPLIT = "test"
TOP_N = 5
RANK_K = 100  # the clip is looked for among this many results
_TITLES = {"general": "General caption", "fine": "Fine-grained description"}
_GENERATED = "t.source <> 'manifest' AND t.source NOT LIKE 'whisper:%'"  # captions written by our captioners


@dataclass
class Side:
    """One query text of the comparison and what searching with it gives."""

    kind: str
    text: str | None
    source: str | None
    rank: int | None = None  # the clip's rank among RANK_K results; None: not among them (or no text)
    top: list[Any] = field(default_factory=list)  # the first TOP_N hits
    note: str = ""  # why there is no result (missing captions, rejected query)

    def markdown(self) -> str:
        """The side's column: the text, the clip's rank, or the note."""
        head = f"### {_TITLES[self.kind]}" + (f" · `{self.source}`" if self.source else "")
        if self.text is None or self.note:
            return f"{head}\n\n{self.note}"
        rank = f"**rank of this clip: {self.rank}**" if self.rank else f"**not in the top {RANK_K}**"
        return f"{head}\n\n> {self.text}\n\n{rank}"


@dataclass
class CompareResult:
    """The clip compared and its two sides."""

    clip_id: int
    split: str
    sides: dict[str, Side]

    def side(self, kind: str) -> Side:
        return self.sides[kind]

    def summary(self) -> str:
        ranks = ", ".join(f"{k} → {s.rank or '—'}" for k, s in self.sides.items())
        return f"clip `{self.clip_id}` (split {self.split}); gallery = that split's clips; ranks: {ranks}"


def compare_choices(searcher: Any, split: str = COMPARE_SPLIT, limit: int = 2000) -> list[str]:
    """Dropdown labels ``"<clip_id> · labels · shot N"`` of the split's searchable clips, read from the searcher's
    catalog copy (never the file, which an ingest may hold)."""
    rows = searcher.catalog_cursor().execute(
        "SELECT c.clip_id, row_number() OVER (PARTITION BY c.video_id ORDER BY c.start_s) - 1 AS shot, v.industry, "
        "coalesce(v.product, v.game, v.sub_industry) AS what FROM clips c JOIN videos v USING (video_id) "
        "WHERE v.split = ? AND v.catalog_id NOT IN (SELECT catalog_id FROM catalogs WHERE retired) "
        "ORDER BY c.clip_id LIMIT ?",
        [split, limit],
    )
    return [f"{cid} · {industry} / {what} · shot {shot}" for cid, shot, industry, what in rows.fetchall()]


def another_choice(choices: list[str], current: str | None, rng: random.Random) -> str:
    """A random label of ``choices`` other than ``current`` (``current`` itself only when it is the only one).

    Raises:
        ValueError: There are no choices (no clips in the compared split).
    """
    if not choices:
        raise ValueError(f"no {COMPARE_SPLIT} clips to compare: ingest a catalog first (`adsearch ingest`)")
    others = [c for c in choices if c != current]
    return rng.choice(others or choices)


def _generated_texts(searcher: Any, clip_id: int) -> tuple[str, dict[str, tuple[str, str]]]:
    cur = searcher.catalog_cursor()
    found = cur.execute(
        "SELECT v.split FROM clips c JOIN videos v USING (video_id) WHERE c.clip_id = ?", [clip_id]
    ).fetchone()
    if found is None:
        raise ValueError(f"clip {clip_id} is not in the catalog; pick one from the list")
    rows = cur.execute(
        f"SELECT t.kind, t.source, t.text FROM texts t WHERE t.clip_id = ? AND t.kind IN ('general', 'fine') "
        f"AND {_GENERATED} AND t.text <> '' ORDER BY t.source",
        [clip_id],
    ).fetchall()
    return found[0], {kind: (text, source) for kind, source, text in rows}  # last source wins


def compare_clip(searcher: Any, clip_id: int) -> CompareResult:
    """Search the clip's split with its general caption and with its fine description; rank of the clip in each.

    Raises:
        ValueError: The clip is not in the catalog.
    """
    from indexer.search import Filters, QueryError

    split, texts = _generated_texts(searcher, clip_id)
    sides = {}
    for kind in ("general", "fine"):
        if kind not in texts:
            sides[kind] = Side(
                kind,
                None,
                None,
                note=f"no generated {kind} caption for this clip: run `adsearch train-captioner --kind {kind}` "
                f"then `adsearch caption --kind {kind} --split {split}`",
            )
            continue
        text, source = texts[kind]
        side = Side(kind, text, source)
        try:
            hits = searcher.search(text, k=RANK_K, filters=Filters(split=split))
        except QueryError as e:
            side.note = f"the search refused this text: {e}"
        else:
            side.rank = next((h.rank for h in hits if h.clip_id == clip_id), None)
            side.top = hits[:TOP_N]
        sides[kind] = side
    return CompareResult(clip_id, split, sides)

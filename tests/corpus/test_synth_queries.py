"""User-style queries of the synthetic catalog: held-out wording, short and partial, and every matching clip."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from corpus.synth import build_records, plan_catalog
from corpus.synth import queries as Q
from corpus.synth.ontology import CAMERA_MOVES
from corpus.synth.scene import Person, Shot
from tests.corpus.conftest import Tiny

GRAM = 5  # a query shares no run of this many words with any training text


@pytest.fixture(scope="module")
def catalogs():
    """Two default-size plans (no rendering), their manifest records and their user queries."""
    out = []
    for seed in (0, 1):
        plan = plan_catalog(1500, seed=seed)
        records = build_records(plan, 144, 256)
        out.append((plan, records, Q.user_queries(plan, [r.uri for r in records])))
    return out


def _training_texts(records) -> list[str]:
    """Every text the generator writes for training: reference, general caption, keywords, voice-over (ASR)."""
    texts = []
    for r in records:
        texts.append(r.asr)
        for c in r.clips:
            texts += [c.reference, c.general, *c.keywords]
    return texts


def _padded(texts) -> str:
    return "|".join(f" {' '.join(Q.words_of(t))} " for t in texts)


def _occurs(term: str, padded: str) -> bool:
    return f" {' '.join(Q.words_of(term))} " in padded


def test_no_heldout_word_or_phrase_occurs_in_any_training_text(catalogs, tiny: Tiny) -> None:
    texts = [t for _, records, _ in catalogs for t in _training_texts(records)]
    texts += _training_texts(tiny.manifest.records)  # as written to a rendered catalog's manifest
    padded = _padded(texts)
    # the check finds what is there: the descriptions' own words ("polka dots", hence not held out)
    assert all(_occurs(w, padded) for w in ("woman", "polka dots", "waves", "dotted", "bottle"))
    assert not _occurs("polka dot", padded)  # whole words: "polka dot" is not "polka dots"
    found = sorted(t for t in Q.HELDOUT_TERMS if _occurs(t, padded))
    assert found == [], f"held-out terms found in training texts: {found}"


def _tables() -> dict[str, list[str]]:
    """Every wording of the query writer's vocabulary tables."""
    t = {
        "subject": [w for ws in Q.SUBJECT_WORDS.values() for w in ws],
        "hypernym": [w for ws in Q.HYPERNYM_WORDS.values() for w in ws],
        "colour": [w for ws in Q.COLOUR_WORDS.values() for w in ws],
        "pattern": [w for ws in Q.PATTERN_WORDS.values() for w in ws],
        "garment": [w for ws in Q.GARMENT_WORDS.values() for w in ws],
        "hair": [w for ws in Q.HAIR_COLOUR_WORDS.values() for w in ws],
        "accessory": [*Q.GLASSES_WORDS, *Q.BAG_WORDS, *Q.CAPE_WORDS],
        "product": [w for ws in Q.PRODUCT_WORDS.values() for w in ws],
        "material": [w for ws in Q.MATERIAL_WORDS.values() for w in ws],
        "character": [w for ws in Q.CHARACTER_WORDS.values() for w in ws],
        "enemy": [w for ws in Q.ENEMY_WORDS.values() for w in ws],
        "setting": [w for ws in Q.SETTING_WORDS.values() for w in ws],
        "move": [w for bank in Q.MOVE_WORDS.values() for ws in bank.values() for w in ws],
        "camera": [w for ws in Q.CAMERA_WORDS.values() for w in ws],
        "template": [*Q.HELD_WORDS, *Q.BESIDE_WORDS, *Q.ORDER_WORDS, *Q.BRAND_WORDS, *Q.PREFIX_WORDS],
    }
    return {
        k: [w.replace("{obj}", "").replace("{a}", "").replace("{b}", "").replace("{brand}", "") for w in v]
        for k, v in t.items()
    }


def test_every_wording_holds_a_heldout_term_or_is_a_plain_word() -> None:
    for table, wordings in _tables().items():
        for w in wordings:
            padded = f" {' '.join(Q.words_of(w))} "
            held = any(f" {t} " in padded for t in Q.HELDOUT_TERMS)
            assert held or set(Q.words_of(w)) <= Q.PLAIN_WORDS, (table, w)
    # the examples of wordings a model must not match by string
    assert {"sneaker", "lady", "spinning"} <= Q.HELDOUT_TERMS


def test_queries_are_short_partial_and_share_no_run_of_words_with_training(catalogs) -> None:
    for plan, records, queries in catalogs:
        grams = set()
        for t in _training_texts(records):
            w = Q.words_of(t)
            grams.update(tuple(w[i : i + GRAM]) for i in range(len(w) - GRAM + 1))
        assert len(queries) == len(Q.ATTRIBUTE_RANGES) * sum(len(v.shots) for v in plan.videos)
        assert {q.split for q in queries} == {v.split for v in plan.videos}  # every split; the wording is held out
        assert len({q.query_id for q in queries}) == len(queries)
        for q in queries:
            w = Q.words_of(q.text)
            assert Q.MIN_WORDS <= len(w) <= Q.MAX_WORDS, q.text
            assert Q.MIN_ATTRIBUTES <= len(q.attributes) <= Q.MAX_ATTRIBUTES, q
            padded = f" {' '.join(w)} "
            assert any(f" {t} " in padded for t in Q.HELDOUT_TERMS), q.text
            shared = [g for g in zip(*(w[i:] for i in range(GRAM)), strict=False) if g in grams]
            assert not shared, (q.text, shared)
        n_attrs = Counter(len(q.attributes) for q in queries)
        assert set(n_attrs) == set(range(Q.MIN_ATTRIBUTES, Q.MAX_ATTRIBUTES + 1)), n_attrs
        assert len({q.text for q in queries}) >= 0.95 * len(queries)


def _states(shot: Shot, attr: tuple[str, ...]) -> bool:
    """Whether ``shot`` shows ``attr``, read from the shot itself (independently of ``clip_attributes``)."""
    p, prod, ch = shot.person, shot.product, shot.character
    key, *v = attr
    body = [m for m in shot.movements if m not in CAMERA_MOVES]
    checks = {
        "noun": lambda: p is not None and p.noun == v[0],
        "subject": lambda: {
            "person": p is not None,
            "child": p is not None and p.noun in ("girl", "boy"),
            "character": ch is not None,
        }[v[0]],
        "garment": lambda: p is not None and p.garment == v[0],
        "clothing": lambda: p is not None and p.clothing_colour == v[0],
        "pattern": lambda: p is not None and p.pattern == v[0],
        "hair_colour": lambda: p is not None and p.hair_colour == v[0],
        "hair_style": lambda: p is not None and p.hair_style == v[0],
        "glasses": lambda: p is not None and ("glasses", None) in p.accessories,
        "hat": lambda: p is not None and any(a == "hat" and (not v or c == v[0]) for a, c in p.accessories),
        "bag": lambda: p is not None and any(a == "bag" and (not v or c == v[0]) for a, c in p.accessories),
        "product": lambda: prod is not None and prod.category == v[0],
        "product_colour": lambda: prod is not None and prod.colour == v[0],
        "material": lambda: prod is not None and prod.material == v[0],
        "brand": lambda: (
            (prod is not None and prod.label == v[0]) or (shot.overlay is not None and shot.overlay.brand == v[0])
        ),
        "relation": lambda: (
            p is not None
            and prod is not None
            and ((shot.held or "pick_up" in shot.movements) if v[0] == "held" else not shot.held)
        ),
        "character": lambda: ch is not None and ch.cls == v[0],
        "outfit": lambda: ch is not None and ch.outfit_colour == v[0],
        "cape": lambda: ch is not None and ch.cape is not None and (not v or ch.cape == v[0]),
        "enemy": lambda: shot.enemy is not None and tuple(shot.enemy[: len(v)]) == tuple(v),
        "setting": lambda: shot.setting == v[0],
        "camera": lambda: v[0] in shot.movements,
        "move": lambda: shot.mover == v[0] and v[1] in body,
        "order": lambda: shot.mover == v[0] and v[1] in body and v[2] in body and body.index(v[1]) < body.index(v[2]),
    }
    return checks[key]()


def test_ground_truth_is_every_clip_of_the_catalog_that_satisfies_the_query(catalogs) -> None:
    plan, records, queries = catalogs[0]
    keys = [(r.uri, k) for r in records for k in range(len(r.clips))]
    shots = [s for v in plan.videos for s in v.shots]
    attrs = [Q.clip_attributes(s) for s in shots]
    for q in queries[::7]:  # brute force over every clip, for a seventh of the queries (seconds)
        expected = [keys[i] for i, s in enumerate(shots) if all(_states(s, a) for a in q.attributes)]
        assert list(q.matches) == expected, q.text
        assert [keys[i] for i in Q.match_clips(q.attributes, attrs)] == expected
        assert q.source in q.matches
    assert sum(len(q.matches) > 1 for q in queries) / len(queries) > 0.3  # not only the clip it was written from
    assert any(m[0] != q.source[0] for q in queries for m in q.matches), "answers from other videos too"


def _shot(pattern: str, **kw) -> Shot:
    person = Person("woman", "long", "blonde", "yellow", pattern, (("hat", "red"),), 0)
    return Shot(
        kind="person",
        n_frames=30,
        setting="street",
        backdrop=None,
        movements=("wave",),
        start_side="centre",
        person=person,
        **kw,
    )


def test_a_yellow_spotted_dress_and_a_yellow_striped_one() -> None:
    dotted, striped = _shot("dotted"), _shot("striped")
    clips = [Q.clip_attributes(dotted), Q.clip_attributes(striped)]
    base = {("noun", "woman"), ("clothing", "yellow"), ("move", "person", "wave"), ("setting", "street")}
    assert Q.match_clips(base, clips) == [0, 1]
    assert Q.match_clips(base | {("pattern", "dotted")}, clips) == [0]
    assert Q.match_clips(base | {("product_colour", "yellow")}, clips) == []  # colours stay bound to their object
    assert Q.match_clips({("hat", "red"), ("subject", "person")}, clips) == [0, 1]
    seen = set()
    for seed in range(200):
        text, attrs = Q.write_query(dotted, random.Random(seed), 6)
        words = f" {' '.join(Q.words_of(text))} "
        assert attrs <= clips[0] and len(attrs) <= 6
        for description_word in ("woman", "dotted", "polka", "waves", "street", "striped"):
            assert f" {description_word} " not in words, text
        if ("pattern", "dotted") in attrs:
            assert any(f" {w} " in words for w in Q.PATTERN_WORDS["dotted"]), text
        if ("clothing", "yellow") in attrs:
            assert " yellow " in words, text
        if ("move", "person", "wave") in attrs:
            assert " waving " in words, text
        seen.add(text)
    assert len(seen) > 100


def test_write_query_bounds() -> None:
    for n in (1, 7):
        with pytest.raises(ValueError, match="n_attributes must be 2-6"):
            Q.write_query(_shot("solid"), random.Random(0), n)


def test_generate_catalog_writes_the_queries_beside_the_manifest(tiny: Tiny, tiny_serial: Tiny) -> None:
    path = tiny.result.manifest_path.parent / Q.USER_QUERIES_NAME
    queries = Q.read_user_queries(path)
    uris = [r.uri for r in tiny.manifest.records]
    assert queries == Q.user_queries(tiny.plan, uris)
    assert path.read_bytes() == (tiny_serial.result.manifest_path.parent / Q.USER_QUERIES_NAME).read_bytes()
    clips = {r.uri: len(r.clips) for r in tiny.manifest.records}
    split = {r.uri: r.split for r in tiny.manifest.records}
    for q in queries:
        assert split[q.source[0]] == q.split in Q.QUERY_SPLITS
        for uri, k in q.matches:
            assert 0 <= k < clips[uri]
    assert not list(path.parent.glob(".*.part"))


def test_read_user_queries_names_the_bad_line(tiny: Tiny, tmp_path: Path) -> None:
    good = (tiny.result.manifest_path.parent / Q.USER_QUERIES_NAME).read_text().splitlines()[0]
    bad = json.loads(good) | {"matches": [["videos/x.mp4", "first"]]}
    path = tmp_path / Q.USER_QUERIES_NAME
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"line 2: .*a match must be \[uri, clip index\]"):
        Q.read_user_queries(path)
    path.write_text(good + "\n\n{not json\n")
    with pytest.raises(ValueError, match="line 3"):
        Q.read_user_queries(path)
    path.write_text(good + "\n\n")  # blank lines are skipped
    assert len(Q.read_user_queries(path)) == 1

"""User-style queries of a synthetic catalog: short, partial, in held-out wording, with every clip that satisfies them.

A person searching an ad catalog types a few words about what a clip shows ("lady in a spotty yellow frock waving
downtown"), not a description. This module writes such queries from the catalog's ground truth (the planned
:class:`~corpus.synth.scene.Shot` of every clip):

- each query states 2-6 attributes of one clip (its subject, clothing colour and pattern, hair, accessories, the
  product with its colour, material and brand, the setting, one or two movements and their order) in 4-14 words;
- its wording is held out of every text the generator writes for training (reference descriptions, general
  captions, keywords, voice-over): synonyms ("lady", "sneaker", "spotted", "twirling"), participles where the
  descriptions conjugate ("waving" for "waves"), and templates and word orders no description uses; all held-out
  words and phrases are listed in this module only, and a test checks them against generated catalogs;
- its ground truth is every clip of the catalog whose attributes include the query's attributes
  (:func:`clip_attributes`), not only the clip it was written from.

Queries are written from the clips of every split. The benchmarks score those of ``val`` and ``test``
(``benchmarks.recall``, ``benchmarks.search``); the train split's are what ``benchmarks.fusion_tune`` fits the
learned fusion on, in a workspace whose models never trained on the catalog (the default ``make demo``: every shipped
model was trained on other seeds). No model's training reads a query file, and the wording is held out of the
training texts whatever the split: a query never becomes training text.
:func:`generate_catalog <corpus.synth.catalog.generate_catalog>` writes them beside the manifest as
``user_queries.jsonl``: one JSON object per line, each clip named by its video's manifest ``uri`` and its index in
that video's ``clips`` list (the ``shot_index`` that ingest gives it).

Note: "polka dot" is not held out: the reference descriptions say "polka dots" (``text.py``), so the queries name
that pattern "spotted", "spotty" or "dotty".
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from corpus.synth.ontology import CAMERA_MOVES, COLOURS
from corpus.synth.plan import CatalogPlan, seed_of
from corpus.synth.scene import Shot

__all__ = [
    "HELDOUT_TERMS",
    "MAX_ATTRIBUTES",
    "MAX_WORDS",
    "MIN_ATTRIBUTES",
    "MIN_WORDS",
    "QUERY_SPLITS",
    "USER_QUERIES_NAME",
    "Attr",
    "UserQuery",
    "clip_attributes",
    "match_clips",
    "read_user_queries",
    "user_queries",
    "words_of",
    "write_query",
    "write_user_queries",
]

USER_QUERIES_NAME = "user_queries.jsonl"  # beside the manifest of a generated catalog
QUERY_SPLITS = ("train", "val", "test", "test_comp")  # train: for fitting fusion only (see the module doc)
ATTRIBUTE_RANGES = ((2, 3), (4, 6))  # one query per range and clip: a short one and a more specific one
MIN_ATTRIBUTES, MAX_ATTRIBUTES = 2, 6
MIN_WORDS, MAX_WORDS = 4, 14

Attr = tuple[str, ...]  # ("noun", "woman"), ("clothing", "yellow"), ("move", "person", "wave"), ...

# --- the held-out vocabulary: the only place where the queries' words are chosen ---------------------------------
# Wordings of a value; those not in HELDOUT_TERMS (e.g. a colour's own name) may occur in training texts.
SUBJECT_WORDS = {
    "woman": ("lady",),
    "man": ("guy", "gentleman"),
    "girl": ("little girl", "schoolgirl"),
    "boy": ("little boy", "lad"),
}
HYPERNYM_WORDS = {  # a query may name a wider class than the clip's subject
    "person": ("someone", "a person"),
    "child": ("kid", "child"),
    "character": ("game hero", "video game hero"),
}
COLOUR_WORDS = {"red": ("red", "scarlet", "crimson"), "grey": ("grey", "gray"), "purple": ("purple", "violet")}
PATTERN_WORDS = {
    "striped": ("stripy", "stripey"),
    "dotted": ("spotted", "spotty", "dotty"),
    "checked": ("tartan", "gingham"),
}
GARMENT_WORDS = {"dress": ("dress", "frock"), "shirt": ("shirt", "tee", "t-shirt")}
HAIR_COLOUR_WORDS = {
    "black": ("jet-black", "raven"),
    "brown": ("chestnut", "brunette"),
    "blonde": ("fair", "golden"),
    "red": ("ginger", "copper"),
}
GLASSES_WORDS = ("specs", "spectacles", "eyeglasses")
BAG_WORDS = ("satchel", "crossbody bag")
PRODUCT_WORDS = {
    "bottle": ("bottle",),
    "jar": ("jar", "pot"),
    "phone": ("smartphone", "mobile phone", "cellphone"),
    "shoe": ("sneaker", "trainer"),
    "handbag": ("purse", "tote"),
    "cup": ("mug",),
    "box": ("carton", "package"),
    "lipstick": ("lipstick",),
    "watch": ("wristwatch", "timepiece"),
    "headphones": ("headset", "earphones"),
    "car": ("automobile", "vehicle"),
}
MATERIAL_WORDS = {
    "glass": ("glass",),
    "plastic": ("plastic",),
    "metal": ("metallic", "steel"),
    "leather": ("leather",),
    "paper": ("cardboard",),
    "wood": ("timber",),
    "canvas": ("fabric", "cloth"),
}
CHARACTER_WORDS = {
    "knight": ("paladin", "armoured warrior"),
    "robot": ("android", "droid"),
    "wizard": ("mage", "sorcerer"),
    "archer": ("bowman", "marksman"),
    "ninja": ("shinobi",),
    "pirate": ("buccaneer", "corsair"),
}
CAPE_WORDS = ("cloak",)
ENEMY_WORDS = {"slime": ("blob", "goo monster"), "bat": ("bat",)}
SETTING_WORDS = {  # with their preposition
    "table": ("at a dining table",),
    "kitchen": ("in the kitchen",),
    "street": ("downtown", "on a busy road"),
    "studio": ("in a photo studio", "at a photoshoot"),
    "beach": ("at the seaside", "on the shore", "by the ocean"),
    "living_room": ("in a lounge", "in the sitting room"),
    "office": ("at the workplace", "in the office"),
    "park": ("on the lawn", "in the park"),
    "classroom": ("in a schoolroom", "in a lecture room"),
    "castle_map": ("on a fortress stage", "in a castle world"),
    "forest_map": ("in the woods", "in a woodland world"),
    "desert_map": ("in a desert world", "in the wasteland"),
    "space_map": ("in outer space",),
    "lava_map": ("in a volcanic world", "in a magma stage"),
    "candy_map": ("in candyland", "in a sugary world"),
}
_BODY_MOVE_WORDS = {
    "enter_left": ("coming from the left", "appearing from the left"),
    "enter_right": ("coming from the right", "appearing from the right"),
    "exit_left": ("leaving to the left", "heading out to the left"),
    "exit_right": ("leaving to the right", "heading out to the right"),
    "walk_to_right": ("strolling to the right", "wandering to the right"),
    "walk_to_left": ("strolling to the left", "wandering to the left"),
    "jump": ("hopping", "leaping"),
    "wave": ("waving", "waving hi"),
    "spin": ("spinning", "twirling"),
}
MOVE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {  # {obj}: the product a person handles
    "person": {
        **_BODY_MOVE_WORDS,
        "shake": ("shaking {obj}",),
        "pick_up": ("grabbing {obj}", "picking up {obj}"),
        "put_down": ("setting {obj} down", "putting {obj} down"),
        "raise": ("lifting {obj} up", "raising {obj} overhead"),
        "pour": ("pouring from {obj}",),
    },
    "character": {
        **_BODY_MOVE_WORDS,
        "enter_left": ("charging from the left", "rushing on from the left"),
        "enter_right": ("charging from the right", "rushing on from the right"),
        "exit_left": ("running off to the left", "rushing out to the left"),
        "exit_right": ("running off to the right", "rushing out to the right"),
        "attack": ("attacking", "striking"),
        "fall": ("collapsing", "falling down"),
    },
    "product": {
        "enter_left": ("sliding over from the left", "gliding on from the left"),
        "enter_right": ("sliding over from the right", "gliding on from the right"),
        "exit_left": ("sliding off to the left", "gliding out to the left"),
        "exit_right": ("sliding off to the right", "gliding out to the right"),
        "fall": ("dropping in", "falling into view"),
        "jump": ("hopping", "bouncing"),
        "spin": ("spinning", "twirling", "rotating"),
        "shake": ("shaking", "jiggling", "wobbling"),
        "open_lid": ("opening up", "popping open"),
        "pour": ("pouring out",),
    },
    "car": {
        "enter_left": ("pulling up from the left", "arriving from the left"),
        "enter_right": ("pulling up from the right", "arriving from the right"),
        "exit_left": ("pulling away to the left", "leaving to the left"),
        "exit_right": ("pulling away to the right", "leaving to the right"),
        "jump": ("bouncing", "hopping"),
        "shake": ("rocking", "shaking"),
    },
}
CAMERA_WORDS = {
    "zoom_in": ("camera zooming in", "with a zoom-in", "camera pushing in"),
    "zoom_out": ("camera zooming out", "with a zoom-out", "camera pulling out"),
}
HELD_WORDS = ("carrying {obj}", "with {obj} in hand", "clutching {obj}")
BESIDE_WORDS = ("beside {obj}", "near {obj}")
ORDER_WORDS = ("{a} and afterwards {b}", "{a}, later {b}", "{a} before {b}")
BRAND_WORDS = ("with the {brand} logo", "{brand} ad:")  # "... ad:" goes before the rest
PREFIX_WORDS = ("clip of", "video of", "footage of", "show me", "ad with")

# Words and phrases no training text contains (tests/corpus/test_synth_queries.py checks them against generated
# catalogs, and that every wording above holds one of them or is listed in PLAIN_WORDS); every query holds one.
HELDOUT_TERMS: frozenset[str] = frozenset(
    t.strip()
    for t in """
    lady, guy, gentleman, little girl, schoolgirl, little boy, lad, someone, a person, kid, child, game hero,
    scarlet, crimson, gray, violet, stripy, stripey, spotted, spotty, dotty, tartan, gingham, frock, tee, t-shirt,
    jet-black, raven, chestnut, brunette, fair, golden, ginger, copper, long-haired, short-haired, curly-haired,
    cropped, topknot, specs, spectacles, eyeglasses, satchel, crossbody bag,
    pot, smartphone, mobile phone, cellphone, sneaker, trainer, purse, tote, mug, carton, package, wristwatch,
    timepiece, headset, earphones, automobile, vehicle, metallic, steel, cardboard, timber, fabric, cloth,
    paladin, armoured warrior, android, droid, bowman, marksman, mage, sorcerer, shinobi, buccaneer, corsair, cloak,
    blob, goo monster, facing,
    dining table, in the kitchen, downtown, busy road, photo studio, photoshoot, seaside, shore, ocean, lounge,
    sitting room, workplace, in the office, lawn, in the park, schoolroom, lecture room, fortress, castle world,
    woods, woodland, desert world, wasteland, outer space, volcanic, magma, candyland, sugary,
    coming from, appearing, leaving, heading out, strolling, wandering, hopping, leaping, waving, spinning,
    twirling, shaking, grabbing, picking up, setting, putting, lifting, raising, pouring, charging, rushing,
    attacking, striking, collapsing, falling, sliding, gliding, dropping, bouncing, rotating, jiggling, wobbling,
    running off, opening up, popping, pulling, arriving, rocking, zooming, zoom-in, zoom-out, pushing in,
    carrying, in hand, clutching, beside, near, afterwards, later, before, logo, ad,
    clip of, video of, footage, show me
    """.split(",")
)
PLAIN_WORDS = frozenset({*COLOURS, "bottle", "jar", "lipstick", "glass", "plastic", "leather", "dress", "shirt", "bat"})

_WORD = re.compile(r"[a-z0-9%$'&-]+")


def words_of(text: str) -> list[str]:
    """The lower-case words of ``text`` (letters, digits, ``%$'&-``), as the held-out checks compare them."""
    return _WORD.findall(text.lower())


# --- ground truth ------------------------------------------------------------------------------------------------
def clip_attributes(shot: Shot) -> frozenset[Attr]:
    """Every attribute a query may state about ``shot``: a query matches a clip when its attributes are a subset.

    Attributes are typed, so each stays bound to its object: ``("clothing", "yellow")`` is the person's dress or
    shirt, ``("product_colour", "yellow")`` the product's, ``("move", "product", "spin")`` a spinning product.
    """
    a: set[Attr] = {("setting", shot.setting)}
    p = shot.person
    if p is not None:
        a |= {("subject", "person"), ("noun", p.noun), ("garment", p.garment), ("clothing", p.clothing_colour)}
        a |= {("pattern", p.pattern), ("hair_colour", p.hair_colour), ("hair_style", p.hair_style)}
        if p.noun in ("girl", "boy"):
            a.add(("subject", "child"))
        for name, colour in p.accessories:
            a.add((name,))
            if colour is not None:
                a.add((name, colour))
    prod = shot.product
    if prod is not None:
        a |= {("product", prod.category), ("product_colour", prod.colour), ("material", prod.material)}
        if prod.label:
            a.add(("brand", prod.label))
        if p is not None:
            if shot.held or "pick_up" in shot.movements:
                a.add(("relation", "held"))
            if not shot.held:
                a.add(("relation", "beside"))
    ch = shot.character
    if ch is not None:
        a |= {("subject", "character"), ("character", ch.cls), ("outfit", ch.outfit_colour)}
        if ch.cape:
            a |= {("cape",), ("cape", ch.cape)}
        if shot.enemy is not None:
            a |= {("enemy", shot.enemy[0]), ("enemy", *shot.enemy)}
    if shot.overlay is not None and shot.overlay.brand:
        a.add(("brand", shot.overlay.brand))
    body = [m for m in shot.movements if m not in CAMERA_MOVES]
    a |= {("camera", m) for m in shot.movements if m in CAMERA_MOVES}
    a |= {("move", shot.mover, m) for m in body}
    a |= {("order", shot.mover, x, y) for i, x in enumerate(body) for y in body[i + 1 :]}
    return frozenset(a)


def match_clips(query: Iterable[Attr], clips: Sequence[frozenset[Attr]]) -> list[int]:
    """Indices of the ``clips`` (attribute sets) that hold every attribute of ``query``, ascending."""
    q = frozenset(query)
    return [i for i, attrs in enumerate(clips) if q <= attrs]


# --- writing one query -------------------------------------------------------------------------------------------
def _colour(rng: random.Random, colour: str) -> str:
    return rng.choice(COLOUR_WORDS.get(colour, (colour,)))


def _a(np_: str) -> str:
    return f"{'an' if np_[0] in 'aeiou' else 'a'} {np_}"


class _Writer:
    """Chooses the facets (attributes) of one query about one shot and words them."""

    def __init__(self, shot: Shot, rng: random.Random):
        self.shot, self.rng = shot, rng
        self.attrs: set[Attr] = set()

    # Facets a query may state about the shot, with their weights (how often a person would mention them).
    def facets(self) -> dict[str, float]:
        s, f = self.shot, {}
        if s.person is not None:
            f |= {"clothing": 3.0, "hair_colour": 1.0, "hair_style": 0.6}
            if s.person.pattern != "solid":
                f["pattern"] = 2.0
            f |= {f"acc:{name}": 1.0 for name, _ in s.person.accessories}
        if s.product is not None:
            if s.person is not None:
                f |= {"product": 3.0, "relation": 1.0}
            if s.product.category != "car":
                f["material"] = 1.0
            f["product_colour"] = 2.0
            if s.product.label:
                f["brand"] = 1.5
        if s.overlay is not None and s.overlay.brand:
            f["brand"] = 1.5
        if s.character is not None:
            f |= {"outfit": 3.0}
            if s.character.cape:
                f["cape"] = 1.0
            if s.enemy is not None:
                f |= {"enemy": 1.0, "enemy_colour": 0.7}
        f["setting"] = 2.0
        f |= {f"move:{m}": 2.5 for m in s.movements}
        if len([m for m in s.movements if m not in CAMERA_MOVES]) >= 2:
            f["order"] = 1.5
        return f

    def _needs(self, facet: str) -> list[str]:
        """Facets that ``facet`` cannot be worded without."""
        s = self.shot
        if s.person is not None and facet in ("material", "product_colour", "relation"):
            return ["product"]
        if facet == "brand" and s.person is not None and (s.overlay is None or not s.overlay.brand):
            return ["product"]  # the brand is on the product's label only
        if facet == "enemy_colour":
            return ["enemy"]
        if facet.startswith("move:") and s.person is not None and s.product is not None:
            if facet[5:] in ("shake", "pick_up", "put_down", "raise", "pour"):
                return ["product"]
        if facet == "order":
            body = [m for m in s.movements if m not in CAMERA_MOVES]
            return [f"move:{m}" for m in body[:2]] if self.rng.random() < 0.5 else [f"move:{m}" for m in body[-2:]]
        return []

    def choose(self, n: int) -> list[str]:
        """``n`` facets besides the subject (fewer when the shot has fewer), dependencies included."""
        pool = self.facets()
        chosen: list[str] = []
        while len(chosen) < n and pool:
            facet = self.rng.choices(list(pool), weights=list(pool.values()))[0]
            del pool[facet]
            new: list[str] = []
            todo = [facet]
            while todo:  # the facet with its dependencies, and theirs
                x = todo.pop()
                if x not in chosen and x not in new:
                    new.append(x)
                    todo += self._needs(x)
            moves = [x for x in chosen + new if x.startswith("move:")]
            if len(chosen) + len(new) > n or len(moves) > 2:
                continue
            if facet == "order" and len(moves) != 2:
                continue
            chosen += new
            for x in new:
                pool.pop(x, None)
        return chosen

    # --- wording ---
    def subject(self, chosen: list[str]) -> str:
        s, rng = self.shot, self.rng
        if s.person is not None:
            p = s.person
            if rng.random() < 0.15:
                wide = "child" if p.noun in ("girl", "boy") and rng.random() < 0.6 else "person"
                self.attrs.add(("subject", wide))
                word = rng.choice(HYPERNYM_WORDS[wide])
            else:
                self.attrs.add(("noun", p.noun))
                word = rng.choice(SUBJECT_WORDS[p.noun])
            if "hair_style" in chosen and p.hair_style in ("long", "short", "curly") and "hair_colour" not in chosen:
                self.attrs.add(("hair_style", p.hair_style))
                word = f"{p.hair_style}-haired {word.removeprefix('a ').replace('someone', 'person')}"
            return word if word.startswith(("a ", "someone")) or rng.random() < 0.6 else _a(word)
        if s.character is not None:
            ch = s.character
            if rng.random() < 0.15:
                self.attrs.add(("subject", "character"))
                word = rng.choice(HYPERNYM_WORDS["character"])
            else:
                self.attrs.add(("character", ch.cls))
                word = rng.choice(CHARACTER_WORDS[ch.cls])
            if "outfit" in chosen:
                self.attrs.add(("outfit", ch.outfit_colour))
                c = _colour(rng, ch.outfit_colour)
                word = f"{c} {word}" if rng.random() < 0.5 else f"{word} in {c}"
            return word if rng.random() < 0.6 else _a(word)
        return self.product_np(chosen, subject=True)

    def product_np(self, chosen: list[str], *, subject: bool = False) -> str:
        """'red cardboard luma carton' with the chosen modifiers; the product's category is always stated."""
        prod, rng = self.shot.product, self.rng
        assert prod is not None
        self.attrs.add(("product", prod.category))
        words = []
        if "product_colour" in chosen:
            self.attrs.add(("product_colour", prod.colour))
            words.append(_colour(rng, prod.colour))
        if "material" in chosen:
            self.attrs.add(("material", prod.material))
            words.append(rng.choice(MATERIAL_WORDS[prod.material]))
        noun = rng.choice(PRODUCT_WORDS[prod.category])
        if len(words) == 2 and (rng.random() < 0.5 or not _has_heldout(f"{words[1]} {noun}")):
            words.reverse()  # "plastic grey lipstick": never a description's "grey plastic lipstick"
        if "brand" in chosen:
            brand = prod.label or self.shot.overlay.brand
            self.attrs.add(("brand", brand))
            words.append(brand.lower())
        np_ = " ".join((*words, noun))
        return np_ if subject and rng.random() < 0.6 else _a(np_)

    def posts(self, chosen: list[str]) -> list[str]:
        """Post-modifiers of a person or a character: clothing, hair, accessories, cape, enemy, overlay brand."""
        s, rng, out = self.shot, self.rng, []
        if s.person is not None:
            p = s.person
            colour = "clothing" in chosen
            pattern = "pattern" in chosen
            if colour:
                self.attrs.add(("clothing", p.clothing_colour))
            if pattern:
                self.attrs.add(("pattern", p.pattern))
            if colour or pattern:
                c = _colour(rng, p.clothing_colour) if colour else ""
                pat = rng.choice(PATTERN_WORDS[p.pattern]) if pattern else ""
                if pattern or rng.random() < 0.5:  # name the garment
                    if ("noun", p.noun) not in self.attrs:  # "someone in a frock": the garment says more
                        self.attrs.add(("garment", p.garment))
                    # a plain colour never goes with the description's own garment word ("in a yellow dress")
                    g = rng.choice(GARMENT_WORDS[p.garment] if pattern else GARMENT_WORDS[p.garment][1:])
                    adjs = [x for x in (c, pat) if x]
                    rng.shuffle(adjs)
                    out.append(f"in {_a(' '.join((*adjs, g)))}")
                else:
                    out.append(rng.choice((f"in {c}", f"wearing {c}", f"dressed all in {c}")))
            if "hair_colour" in chosen:
                self.attrs.add(("hair_colour", p.hair_colour))
                hc = rng.choice(HAIR_COLOUR_WORDS[p.hair_colour])
                if "hair_style" in chosen:
                    self.attrs.add(("hair_style", p.hair_style))
                    style = {
                        "long": f"with long {hc} hair",
                        "short": f"with cropped {hc} hair",
                        "curly": f"with curly {hc} hair",
                        "ponytail": f"with a {hc} ponytail",
                        "bun": f"with a {hc} topknot",
                    }
                    out.append(style[p.hair_style])
                else:
                    out.append(f"with {hc} hair")
            elif "hair_style" in chosen and p.hair_style in ("ponytail", "bun"):
                self.attrs.add(("hair_style", p.hair_style))
                out.append("with a ponytail" if p.hair_style == "ponytail" else "with a topknot")
            for name, acc_colour in p.accessories:
                if f"acc:{name}" not in chosen:
                    continue
                if name == "glasses":
                    self.attrs.add(("glasses",))
                    out.append(f"{rng.choice(('with', 'wearing'))} {rng.choice(GLASSES_WORDS)}")
                elif name == "hat":
                    self.attrs.add(("hat", acc_colour))
                    out.append(f"{rng.choice(('with', 'in'))} a {_colour(rng, acc_colour)} hat")
                else:
                    self.attrs.add(("bag", acc_colour))
                    out.append(f"with a {_colour(rng, acc_colour)} {rng.choice(BAG_WORDS)}")
        ch = s.character
        if ch is not None:
            if "cape" in chosen:
                self.attrs.add(("cape", ch.cape))
                out.append(f"with a {_colour(rng, ch.cape)} {rng.choice(CAPE_WORDS)}")
            if "enemy" in chosen:
                kind, colour = s.enemy
                self.attrs.add(("enemy", kind))
                np_ = rng.choice(ENEMY_WORDS[kind])
                if "enemy_colour" in chosen:
                    self.attrs.add(("enemy", kind, colour))
                    np_ = f"{_colour(rng, colour)} {np_}"
                out.append(f"{rng.choice(('facing', 'next to'))} {_a(np_)}")
        return out

    def moves(self, chosen: list[str], product: str | None) -> tuple[str, str | None]:
        """The movement phrase, and the product noun phrase when a movement did not use it."""
        s, rng = self.shot, self.rng
        names = [m for m in s.movements if f"move:{m}" in chosen]  # in the order they happen
        phrases = []
        for m in names:
            if m in CAMERA_MOVES:
                self.attrs.add(("camera", m))
                phrases.append(rng.choice(CAMERA_WORDS[m]))
                continue
            self.attrs.add(("move", s.mover, m))
            phrase = rng.choice(MOVE_WORDS[s.mover][m])
            if "{obj}" in phrase:
                assert product is not None, "a person handles the product only when the query names it"
                phrase, product = phrase.format(obj=product), "it"
            phrases.append(phrase)
        if not phrases:
            return "", product
        if len(phrases) == 1:
            return phrases[0], product
        if "order" in chosen:
            self.attrs.add(("order", s.mover, *names))
            return rng.choice(ORDER_WORDS).format(a=phrases[0], b=phrases[1]), product
        rng.shuffle(phrases)
        return f"{phrases[0]} and {phrases[1]}", product

    def write(self, n_facets: int) -> str:
        """A query stating ``n_facets`` + 1 attributes (the subject and ``n_facets`` others)."""
        s, rng = self.shot, self.rng
        self.attrs = set()
        chosen = self.choose(n_facets)
        subj = self.subject(chosen)
        posts = self.posts(chosen)
        product = None
        if s.person is not None and "product" in chosen:
            product = self.product_np(chosen)
        verb, product = self.moves(chosen, product)
        if product is not None and product != "it":
            if "relation" in chosen:
                held = s.held or "pick_up" in s.movements
                self.attrs.add(("relation", "held" if held else "beside"))
                posts.append(rng.choice(HELD_WORDS if held else BESIDE_WORDS).format(obj=product))
            else:
                posts.append(f"with {product}")
        # (a product that went into a movement, "grabbing a mug", states no relation of its own)
        prefix = ""
        if "brand" in chosen and not any(a[0] == "brand" for a in self.attrs):
            self.attrs.add(("brand", s.overlay.brand))
            brand = rng.choice(BRAND_WORDS).format(brand=s.overlay.brand.lower())
            if brand.endswith(":"):
                prefix = brand
            else:
                posts.append(brand)
        place = ""
        if "setting" in chosen:
            self.attrs.add(("setting", s.setting))
            place = rng.choice(SETTING_WORDS[s.setting])
        rng.shuffle(posts)
        style = rng.random()
        if style < 0.2:  # typed like keywords: "lady, in spotty yellow, twirling, at the seaside"
            parts = [x for x in (*posts, verb, place) if x]
            rng.shuffle(parts)
            text = ", ".join((subj.removeprefix("a ").removeprefix("an "), *parts))
        elif style < 0.4 and place:  # the place first: "downtown, a guy waving in red"
            text = f"{place}, " + " ".join(x for x in (subj, verb, *posts) if x)
        elif style < 0.7:  # "lady twirling in a spotty yellow frock at the seaside"
            text = " ".join(x for x in (subj, verb, *posts, place) if x)
        else:  # "lady in a spotty yellow frock twirling at the seaside"
            text = " ".join(x for x in (subj, *posts, verb, place) if x)
        return f"{prefix} {text}" if prefix else text


def write_query(shot: Shot, rng: random.Random, n_attributes: int) -> tuple[str, frozenset[Attr]]:
    """One user-style query about ``shot`` stating ``n_attributes`` (2-6) of its attributes, and those attributes.

    Fewer attributes are stated when the shot has fewer to tell. The text has 4-14 words (a short one gets a
    prefix such as "clip of") and at least one held-out term.

    Raises:
        ValueError: when ``n_attributes`` is outside 2-6.
    """
    if not MIN_ATTRIBUTES <= n_attributes <= MAX_ATTRIBUTES:
        raise ValueError(f"n_attributes must be {MIN_ATTRIBUTES}-{MAX_ATTRIBUTES}, got {n_attributes}")
    best = None
    for attempt in range(50):
        w = _Writer(shot, rng)
        text = re.sub(r"\s+", " ", w.write(n_attributes - 1 - attempt // 20)).strip()
        if len(words_of(text)) < MIN_WORDS:
            text = f"{rng.choice(PREFIX_WORDS)} {text}"
        attrs = frozenset(w.attrs)
        if not MIN_WORDS <= len(words_of(text)) <= MAX_WORDS or not MIN_ATTRIBUTES <= len(attrs) <= MAX_ATTRIBUTES:
            continue
        if not _has_heldout(text):
            continue
        best = (text, attrs)
        break
    assert best is not None, f"no query fits {MIN_WORDS}-{MAX_WORDS} words for {shot}"
    assert best[1] <= clip_attributes(shot), f"query {best[0]!r} states what the shot does not show"
    return best


def _has_heldout(text: str) -> bool:
    padded = f" {' '.join(words_of(text))} "
    return any(f" {t} " in padded for t in HELDOUT_TERMS)


# --- a catalog's query set ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserQuery:
    """One user-style query: its text, the attributes it states, the clip it was written from, and its answers.

    Clips are ``(uri, clip index)``: the video's manifest uri and the clip's position in its ``clips`` list.
    """

    query_id: str
    text: str
    attributes: tuple[Attr, ...]  # sorted
    split: str  # split of the clip it was written from
    source: tuple[str, int]
    matches: tuple[tuple[str, int], ...]  # every clip of the catalog whose attributes include ``attributes``

    def to_json(self) -> dict:
        """The JSON object of one line of ``user_queries.jsonl``."""
        return {
            "query_id": self.query_id,
            "text": self.text,
            "attributes": [list(a) for a in self.attributes],
            "split": self.split,
            "source": list(self.source),
            "matches": [list(m) for m in self.matches],
        }


def user_queries(plan: CatalogPlan, uris: Sequence[str], splits: Sequence[str] = QUERY_SPLITS) -> list[UserQuery]:
    """The user-style queries of a catalog: two per clip of the ``splits`` (one stating 2-3
    attributes, one 4-6), each with every clip of the whole catalog that satisfies it.

    Deterministic for the plan: each query is drawn from (video seed, clip index, query number).

    Args:
        plan: The catalog's plan.
        uris: The manifest uri of each video of the plan, in plan order.
        splits: The splits whose clips queries are written from.
    """
    assert len(uris) == len(plan.videos), "one uri per video"
    keys: list[tuple[str, int]] = []
    attrs: list[frozenset[Attr]] = []
    for v, uri in zip(plan.videos, uris, strict=True):
        for k, shot in enumerate(v.shots):
            keys.append((uri, k))
            attrs.append(clip_attributes(shot))
    position = {key: i for i, key in enumerate(keys)}
    postings: dict[Attr, set[int]] = {}
    for i, a in enumerate(attrs):
        for x in a:
            postings.setdefault(x, set()).add(i)
    out = []
    for v, uri in zip(plan.videos, uris, strict=True):
        if v.split not in splits:
            continue
        for k, shot in enumerate(v.shots):
            for j, (lo, hi) in enumerate(ATTRIBUTE_RANGES):
                rng = random.Random(seed_of("user-query", v.seed, k, j))
                text, q = write_query(shot, rng, rng.randint(lo, hi))
                hits = sorted(set.intersection(*(postings[x] for x in q)))
                assert position[uri, k] in hits, "a query matches the clip it was written from"
                out.append(
                    UserQuery(
                        query_id=f"q{v.index:05d}-{k}-{j}",
                        text=text,
                        attributes=tuple(sorted(q)),
                        split=v.split,
                        source=(uri, k),
                        matches=tuple(keys[i] for i in hits),
                    )
                )
    return out


def write_user_queries(queries: Sequence[UserQuery], path: str | Path) -> Path:
    """Write ``queries`` as JSON lines (atomically: a reader never sees half a file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with tmp.open("w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def _pair(value: object, what: str) -> tuple[str, int]:
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)):
        raise ValueError(f"{what} must be [uri, clip index], got {value!r}")
    return value[0], value[1]


def read_user_queries(path: str | Path) -> list[UserQuery]:
    """Read a ``user_queries.jsonl`` file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line is not a valid query (the message names the file and line).
    """
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("not a JSON object")
                text = d["text"]
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"text must be a non-empty string, got {text!r}")
                out.append(
                    UserQuery(
                        query_id=str(d["query_id"]),
                        text=text,
                        attributes=tuple(tuple(str(x) for x in a) for a in d["attributes"]),
                        split=str(d["split"]),
                        source=_pair(d["source"], "source"),
                        matches=tuple(_pair(m, "a match") for m in d["matches"]),
                    )
                )
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}, line {n}: not a user query ({type(e).__name__}: {e})") from e
    return out

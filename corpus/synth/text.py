"""Texts of a shot: the fine-grained description (SVAD rules), the general caption (BLIP-2 style) and the keywords."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from corpus.synth.ontology import CHARACTERS, FEMALE, PRODUCTS, SETTINGS, contrast_colour, lid_colour
from corpus.synth.phrases import CAMERA, FINALLY, MATERIAL_CUES, MATERIAL_WORDS, SETTING_DETAILS, THEN, move_phrases
from corpus.synth.scene import Person, Product, Shot, sides_before

__all__ = ["ShotTexts", "describe_shot", "general_caption"]

MIN_WORDS, MAX_WORDS = 30, 60
_AN = re.compile(r"\b([Aa]) (?=[aeiou])")  # "a orange hat" -> "an orange hat"
_SETTING_KEY = {  # the setting's keyword as it appears in its phrases
    "table": "table",
    "kitchen": "kitchen",
    "street": "street",
    "studio": "studio",
    "beach": "beach",
    "living_room": "living room",
    "office": "office",
    "park": "park",
    "classroom": "classroom",
    "castle_map": "castle",
    "forest_map": "forest",
    "desert_map": "desert",
    "space_map": "space",
    "lava_map": "lava",
    "candy_map": "candy",
}


@dataclass(frozen=True)
class ShotTexts:
    """The texts of one clip."""

    reference: str  # fine-grained description
    general: str  # general caption
    keywords: tuple[str, ...]  # content words of the description, in order of appearance


class _Builder:
    """Collects sentences and the keywords they carry."""

    def __init__(self, rng: random.Random, *, compact: bool = False):
        self.rng, self.compact = rng, compact
        self.sentences: list[str] = []
        self.keywords: list[str] = []

    def pick(self, options):
        if self.compact:  # the shortest wording, to bring a long description under MAX_WORDS
            return min(options, key=len)
        return options[self.rng.randrange(len(options))]

    def words(self) -> int:
        return sum(len(s.split()) for s in self.sentences)

    def kw(self, *words: str | None) -> None:
        self.keywords.extend(w for w in words if w)

    def add(self, sentence: str) -> None:
        self.sentences.append(sentence[0].upper() + sentence[1:])

    def text(self) -> str:
        return " ".join(self.sentences)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _person_parts(b: _Builder, p: Person) -> tuple[str, str]:
    """('blonde hair tied in a ponytail', 'wearing a red dress with white stripes')."""
    hc = p.hair_colour
    hair = b.pick(
        {
            "ponytail": (f"a {hc} ponytail", f"{hc} hair tied in a ponytail"),
            "bun": (f"{hc} hair in a bun", f"a {hc} bun"),
            "short": (f"short {hc} hair",),
            "long": (f"long {hc} hair", f"long straight {hc} hair"),
            "curly": (f"curly {hc} hair", f"short curly {hc} hair"),
        }[p.hair_style]
    )
    b.kw(p.noun, hc, p.hair_style)
    c, s, g = p.clothing_colour, contrast_colour(p.clothing_colour), p.garment
    clothes, pat = b.pick(
        {
            "solid": ((f"a plain {c} {g}", "plain"), (f"a solid {c} {g}", "solid")),
            "striped": ((f"a {c} and {s} striped {g}", "striped"), (f"a {c} {g} with {s} stripes", "stripes")),
            "dotted": ((f"a {c} {g} with {s} polka dots", "polka dots"), (f"a {c} and {s} dotted {g}", "dotted")),
            "checked": ((f"a {c} and {s} checked {g}", "checked"), (f"a {c} and {s} plaid {g}", "plaid")),
        }[p.pattern]
    )
    b.kw(c, pat, g)
    return hair, f"{b.pick(('wearing', 'dressed in', 'in'))} {clothes}"


def _accessories(b: _Builder, p: Person, pron: str, pos: str) -> None:
    items = []
    for name, colour in p.accessories:
        if name == "glasses":
            items.append(b.pick(("glasses", "a pair of glasses", "black glasses")))
            b.kw("glasses")
        elif name == "hat":
            items.append(f"a {colour} hat")
            b.kw(colour, "hat")
        else:
            items.append(b.pick((f"a {colour} shoulder bag", f"a {colour} bag over {pos} shoulder")))
            b.kw(colour, "bag")
    if items:
        listed = items[0] if len(items) == 1 else f"{items[0]} and {items[1]}"
        b.add(b.pick((f"{pron} also has {listed}.", f"{pron} has {listed}.", f"{pron} is wearing {listed}.")))


def _product_np(b: _Builder, prod: Product, *, with_label: bool = True) -> str:
    mat = b.pick(MATERIAL_WORDS[prod.material])
    b.kw(prod.colour, mat.split()[-1], prod.category)
    if prod.category == "car":
        return f"a {prod.colour} car"
    np_ = f"a {prod.colour} {mat} {prod.category}"
    if with_label and prod.label:
        b.kw(prod.label)
        np_ += b.pick(
            (
                f" labeled '{prod.label}'",
                f" with a '{prod.label}' label",
                f" with the brand name '{prod.label}' on its label",
            )
        )
    return np_


def _lid_sentence(b: _Builder, prod: Product) -> None:
    cat = PRODUCTS[prod.category]
    if cat.lid is None:
        return
    if prod.category in ("bottle", "jar"):
        col = lid_colour(prod.colour)
        b.kw(col, cat.lid)
        b.add(b.pick((f"it has a {col} {cat.lid}.", f"a {col} {cat.lid} closes it.")))
    else:
        b.kw(cat.lid)
        b.add(b.pick((f"it has a matching {cat.lid}.", f"a matching {cat.lid} sits on top.")))


def _setting_phrase(b: _Builder, shot: Shot) -> str:
    phrase = b.pick(SETTINGS[shot.setting].phrases)
    if "{backdrop}" in phrase:
        phrase = phrase.format(backdrop=shot.backdrop)
        b.kw(shot.backdrop)
    b.kw(_SETTING_KEY[shot.setting])
    return phrase


def _moves_sentence(b: _Builder, shot: Shot, subj: str, pron: str, pos: str, objp: str) -> None:
    """'First the woman enters from the left, then she jumps, and finally the camera zooms in on her.'"""
    obj = shot.product.category if shot.product is not None else ""
    surface = SETTINGS[shot.setting].surface
    lid = PRODUCTS[obj].lid if obj else None
    clauses = []
    named = False
    for m, side in zip(shot.movements, sides_before(shot.movements, shot.start_side), strict=True):
        if m in CAMERA:
            phrase = b.pick(CAMERA[m]).format(objp=objp)
            b.kw(phrase.split()[2])
            clauses.append(phrase)
            continue
        if m == "attack":
            vp = b.pick(CHARACTERS[shot.character.cls].attacks)
        else:
            vp = b.pick(move_phrases(shot.mover, m, side)).format(obj=obj, pos=pos, surface=surface, lid=lid)
        b.kw(vp.split()[0])
        clauses.append(f"{pron if named else subj} {vp}")
        named = True
    if len(clauses) == 1:
        b.add(clauses[0] + ".")
    elif len(clauses) == 2:
        b.add(
            b.pick(
                (f"first {clauses[0]}, {b.pick(THEN)} {clauses[1]}.", f"{clauses[0]}, and {b.pick(THEN)} {clauses[1]}.")
            )
        )
    else:
        b.add(f"first {clauses[0]}, {b.pick(THEN)} {clauses[1]}, and {b.pick(FINALLY)} {clauses[2]}.")


def _overlay(b: _Builder, shot: Shot) -> None:
    ov = shot.overlay
    if ov is None:
        return
    b.kw(ov.brand, ov.tag)
    brand = (
        f"the brand name '{ov.brand}' appears at the top",
        f"the text '{ov.brand}' is shown at the top",
        f"'{ov.brand}' is written at the top",
    )
    tag = (
        f"a yellow badge at the bottom reads '{ov.tag}'",
        f"the words '{ov.tag}' appear in a yellow box at the bottom",
        f"a badge reads '{ov.tag}'",
    )
    if ov.brand and ov.tag:
        b.add(
            b.pick(
                (
                    f"{b.pick(brand)} and {b.pick(tag)}.",
                    f"the text '{ov.brand}' and a '{ov.tag}' badge appear on screen.",
                )
            )
        )
    else:
        b.add(b.pick(brand if ov.brand else tag) + ".")


def _describe_person(b: _Builder, shot: Shot) -> None:
    p = shot.person
    female = p.noun in FEMALE
    pron, pos, objp = ("she", "her", "her") if female else ("he", "his", "him")
    hair, clothes = _person_parts(b, p)
    where = _setting_phrase(b, shot)
    a = f"{_article(p.noun)} {p.noun}"
    b.add(
        b.pick(
            (
                f"{where}, there is {a} with {hair}, {clothes}.",
                f"{a} with {hair} stands {where}, {clothes}.",
                f"the scene shows {a} {clothes}, with {hair}, {where}.",
            )
        )
    )
    _accessories(b, p, pron, pos)
    if shot.product is not None:
        prod = _product_np(b, shot.product)
        if shot.held:
            b.add(b.pick((f"{pron} holds {prod} in {pos} hand.", f"{pron} is holding {prod}.")))
        else:
            b.add(
                b.pick(
                    (
                        f"{prod} stands on a white stand next to {objp}.",
                        f"next to {objp}, {prod} rests on a small white stand.",
                    )
                )
            )
    _moves_sentence(b, shot, f"the {p.noun}", pron, pos, objp)


def _describe_product(b: _Builder, shot: Shot) -> None:
    prod = shot.product
    np_ = _product_np(b, prod)
    where = _setting_phrase(b, shot)
    if where.startswith("at "):  # a product stands on the table, not at it
        where = "on " + where[3:]
    b.add(b.pick((f"the shot shows {np_} {where}.", f"{where}, there is {np_}.")))
    if prod.category == "car":
        b.add(b.pick(("its metal paint shines with light and dark bands.", "the shiny paint reflects bands of light.")))
        b.kw("metal" if "metal" in b.sentences[-1] else "paint")
    else:
        b.add(b.pick(MATERIAL_CUES[prod.material]))
        _lid_sentence(b, prod)
    _moves_sentence(b, shot, f"the {prod.category}", "it", "its", "it")


def _describe_character(b: _Builder, shot: Shot) -> None:
    ch = shot.character
    cls = CHARACTERS[ch.cls]
    where = _setting_phrase(b, shot)
    cape = f" and a {ch.cape} cape" if ch.cape else ""
    b.kw(ch.cls, ch.outfit_colour, cls.outfit.split()[-1], *((ch.cape, "cape") if ch.cape else ()))
    outfit = f"{ch.outfit_colour} {cls.outfit}" if cls.outfit == "armor" else f"a {ch.outfit_colour} {cls.outfit}"
    who = b.pick((f"a {ch.cls} in {outfit}{cape}", f"a {ch.cls} character wearing {outfit}{cape}"))
    b.add(b.pick((f"in a video game, {who} stands {where}.", f"the game shows {who} {where}.")))
    b.add(b.pick((f"it holds {cls.item}.", f"the {ch.cls} carries {cls.item}.")))
    if shot.enemy is not None:
        kind, colour = shot.enemy
        b.kw(colour, kind)
        b.add(
            b.pick(
                (
                    f"a {colour} {kind} monster waits on the right.",
                    f"on the right there is a {colour} {kind}.",
                    f"a {colour} {kind} is on the right.",
                )
            )
        )
    b.add(
        b.pick(
            (
                "a health bar and a score counter are shown at the top of the screen.",
                "the HUD at the top shows a health bar and a score.",
                "the HUD shows a health bar and a score.",
            )
        )
    )
    b.kw("health bar", "score")
    _moves_sentence(b, shot, f"the {ch.cls}", "it", "its", "it")


def _build(shot: Shot, rng: random.Random, compact: bool) -> _Builder:
    b = _Builder(rng, compact=compact)
    if shot.person is not None:
        _describe_person(b, shot)
    elif shot.character is not None:
        _describe_character(b, shot)
    else:
        _describe_product(b, shot)
    _overlay(b, shot)
    details = list(SETTING_DETAILS[shot.setting])
    while b.words() < MIN_WORDS + 6 and details:  # short shots get a true detail of their background
        b.sentences.insert(1, details.pop(rng.randrange(len(details))))
    return b


def describe_shot(shot: Shot, rng: random.Random) -> ShotTexts:
    """Write the texts of ``shot`` with wordings drawn from ``rng`` (the shortest wordings when too long)."""
    b = _build(shot, rng, compact=False)
    if b.words() > MAX_WORDS:
        b = _build(shot, rng, compact=True)
    text = _AN.sub(r"\1n ", b.text())
    low = text.lower()
    seen: list[str] = []
    for k in b.keywords:  # keep the keywords the text really contains, in order of appearance, once each
        if k not in seen and re.search(rf"(?<!\w){re.escape(k.lower())}(?!\w)", low):
            seen.append(k)
    seen.sort(key=lambda k: low.find(k.lower()))
    return ShotTexts(reference=text, general=general_caption(shot), keywords=tuple(seen))


def general_caption(shot: Shot) -> str:
    """A BLIP-2-style caption: subject and main action, no details, few distinct strings."""
    moving = any(m.startswith(("walk_", "enter_", "exit_")) for m in shot.movements)
    if shot.person is not None:
        noun = shot.person.noun
        if shot.product is not None:
            cat = shot.product.category
            if shot.held or "pick_up" in shot.movements:
                return f"{_article(noun)} {noun} holding {_article(cat)} {cat}"
            return f"{_article(noun)} {noun} standing next to {_article(cat)} {cat}"
        loc = SETTINGS[shot.setting].general
        return f"{_article(noun)} {noun} {'walking' if moving else 'standing'} {loc}"
    if shot.character is not None:
        acts = [m for m in shot.movements if m not in CAMERA]
        first = acts[0] if acts else ""
        action = {"jump": "jumping", "attack": "fighting"}.get(first, "walking" if moving else "standing")
        return f"a video game character {action}"
    cat = shot.product.category
    if cat == "car":
        loc = "in a showroom" if shot.setting == "studio" else SETTINGS[shot.setting].general
        return f"a car {'driving' if moving else 'parked'} {loc}"
    if shot.setting in ("table", "kitchen"):
        return f"{_article(cat)} {cat} on a table"
    return f"a close up of {_article(cat)} {cat}"

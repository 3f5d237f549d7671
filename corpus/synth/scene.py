"""Shot specs of the synthetic catalog: what a shot shows (subjects, setting, ordered movements) as seeded data."""

from __future__ import annotations

import random
from dataclasses import dataclass

from corpus.synth.ontology import (
    CAMERA_MOVES,
    CHARACTERS,
    COLOURS,
    ENEMIES,
    FEMALE,
    HAIR_BY_NOUN,
    HAIR_COLOURS,
    MOVEMENTS,
    PATTERNS,
    PRODUCTS,
)

__all__ = [
    "HELDOUT_MOVES",
    "Character",
    "Overlay",
    "Person",
    "Product",
    "Shot",
    "primary_combination",
    "sample_character",
    "sample_enemy",
    "sample_moves",
    "sample_person",
    "sides_before",
]

# First movements that can be held out per subject kind: those every shot of that kind can start with.
HELDOUT_MOVES: dict[str, tuple[str, ...]] = {
    "person": (
        "enter_left",
        "enter_right",
        "walk_to_right",
        "walk_to_left",
        "jump",
        "wave",
        "spin",
        "zoom_in",
        "zoom_out",
    ),
    "product": ("enter_left", "enter_right", "fall", "jump", "spin", "shake", "zoom_in", "zoom_out"),
    "car": ("enter_left", "enter_right", "jump", "shake", "zoom_in", "zoom_out"),
    "character": (
        "enter_left",
        "enter_right",
        "walk_to_right",
        "walk_to_left",
        "jump",
        "wave",
        "spin",
        "attack",
        "zoom_in",
        "zoom_out",
    ),
}


@dataclass(frozen=True)
class Person:
    """A person: who, hair, clothing and accessories (each accessory with its colour, or None for glasses)."""

    noun: str  # woman | man | girl | boy
    hair_style: str
    hair_colour: str
    clothing_colour: str
    pattern: str  # solid | striped | dotted | checked
    accessories: tuple[tuple[str, str | None], ...]  # ("hat", "red"), ("glasses", None), ...
    skin: int  # skin tone index (drawn, not described)

    @property
    def garment(self) -> str:
        return "dress" if self.noun in FEMALE else "shirt"


@dataclass(frozen=True)
class Product:
    """A product: category, colour, material and the brand printed on its label (None when it has no label)."""

    category: str
    colour: str
    material: str
    label: str | None


@dataclass(frozen=True)
class Character:
    """A game character: class, outfit colour and optional cape colour."""

    cls: str
    outfit_colour: str
    cape: str | None


@dataclass(frozen=True)
class Overlay:
    """Text laid over a shot: the brand name and/or a tag such as a price or a call to action."""

    brand: str | None
    tag: str | None


@dataclass(frozen=True)
class Shot:
    """One shot (= one clip): its subjects, setting and the movements it shows, in order."""

    kind: str  # person | person_product | product | car | character
    n_frames: int
    setting: str
    backdrop: str | None  # studio backdrop colour
    movements: tuple[str, ...]
    start_side: str  # left | centre | right: where the subject stands at the first frame (unless it enters)
    person: Person | None = None
    product: Product | None = None
    held: bool = False  # person_product: the product starts in the person's hand (else on a stand beside)
    character: Character | None = None
    enemy: tuple[str, str] | None = None  # (slime | bat, colour)
    hud: bool = False
    overlay: Overlay | None = None

    @property
    def mover(self) -> str:
        """The movement kind of the subject: person, product, car or character."""
        return "person" if self.kind == "person_product" else self.kind

    def content_key(self) -> tuple:
        """Everything the description states; two shots with equal keys would be indistinguishable."""
        return (
            self.kind,
            self.setting,
            self.backdrop,
            self.movements,
            self.start_side,
            self.person,
            self.product,
            self.held,
            self.character,
            self.enemy,
            self.hud,
            self.overlay,
        )


def primary_combination(shot: Shot) -> tuple[str, str, str]:
    """(subject word, its main colour, first movement): the attribute triple the compositional split holds out."""
    if shot.person is not None:
        return shot.person.noun, shot.person.clothing_colour, shot.movements[0]
    if shot.character is not None:
        return shot.character.cls, shot.character.outfit_colour, shot.movements[0]
    assert shot.product is not None, "a shot shows a person, a character or a product"
    return shot.product.category, shot.product.colour, shot.movements[0]


def sample_person(
    rng: random.Random, *, noun_weights: dict[str, float], accessory_p: float = 0.3, clothing_colour: str | None = None
) -> Person:
    """Draw a person; ``clothing_colour`` forces the dress/shirt colour (compositional split)."""
    noun = rng.choices(list(noun_weights), weights=list(noun_weights.values()))[0]
    acc: list[tuple[str, str | None]] = []
    for name in ("glasses", "hat", "bag"):
        if len(acc) < 2 and rng.random() < accessory_p:
            acc.append((name, None if name == "glasses" else rng.choice(list(COLOURS))))
    return Person(
        noun=noun,
        hair_style=rng.choice(HAIR_BY_NOUN[noun]),
        hair_colour=rng.choice(list(HAIR_COLOURS)),
        clothing_colour=clothing_colour or rng.choice(list(COLOURS)),
        pattern=rng.choice(PATTERNS),
        accessories=tuple(acc),
        skin=rng.randrange(4),
    )


# Camera moves are not what an ad is about; product handling is, but it is possible only in some shots.
_WEIGHTS = {
    **dict.fromkeys(CAMERA_MOVES, 0.5),
    **dict.fromkeys(("pick_up", "put_down", "raise", "pour", "open_lid", "attack"), 2.5),
}
_OPPOSITE = {"walk_to_right": "left", "walk_to_left": "right"}


def sides_before(moves: tuple[str, ...], start_side: str) -> list[str]:
    """The side (left | centre | right) the subject stands on before each movement."""
    side, out = start_side, []
    for m in moves:
        out.append(side)
        if m in ("enter_left", "enter_right", "fall"):
            side = "centre"
        elif m == "walk_to_right":
            side = "right"
        elif m == "walk_to_left":
            side = "left"
    return out


def _allowed(m: str, idx: int, n: int, mover: str, st: dict, ctx: dict) -> bool:
    spec = MOVEMENTS[m]
    if mover not in spec.kinds or m in st["used"]:
        return False
    first_only = spec.position == "first" or (m == "fall" and mover == "product")
    last_only = spec.position == "last" or (m == "fall" and mover == "character")
    if (first_only and idx != 0) or (last_only and idx != n - 1):
        return False
    if m == "walk_to_right":
        return idx == 0 or st["side"] != "right"
    if m == "walk_to_left":
        return idx == 0 or st["side"] != "left"
    if m in ("pick_up", "put_down"):
        # The stand is on the right of the frame centre: the person reaches it only from the centre.
        ok = ctx["product"] is not None and st["side"] == "centre"
        return ok and (st["holding"] == (m == "put_down"))
    if mover == "person" and m in ("raise", "shake", "pour"):
        return st["holding"] and (m != "pour" or PRODUCTS[ctx["product"]].pourable)
    if m == "open_lid":
        return PRODUCTS[ctx["product"]].lid is not None and not st["lid"]
    if m == "pour":  # a product pours by itself only once it is open
        p = PRODUCTS[ctx["product"]]
        return p.pourable and (p.lid is None or st["lid"])
    if m == "zoom_in":
        return not st["zoom"]
    if m == "zoom_out":
        return st["zoom"] or idx == 0
    return True


def _apply(m: str, idx: int, st: dict) -> None:
    st["used"].add(m)
    if idx == 0 and m in _OPPOSITE:
        st["side"] = _OPPOSITE[m]
    if idx == 0 and m == "zoom_out":
        st["zoom"] = True
    if m in ("enter_left", "enter_right", "fall"):
        st["side"] = "centre"
    elif m == "walk_to_right":
        st["side"] = "right"
    elif m == "walk_to_left":
        st["side"] = "left"
    elif m == "pick_up":
        st["holding"] = True
    elif m == "put_down":
        st["holding"] = False
    elif m == "open_lid":
        st["lid"] = True
    elif m == "zoom_in":
        st["zoom"] = True
    elif m == "zoom_out":
        st["zoom"] = False


def sample_moves(
    rng: random.Random,
    mover: str,
    n: int,
    *,
    product: str | None = None,
    held: bool = False,
    first: str | None = None,
    forbid_first: frozenset[str] = frozenset(),
) -> tuple[tuple[str, ...], str] | None:
    """Draw ``n`` distinct movements that can follow each other; returns (movements, start side) or None.

    Args:
        rng: The shot's random generator.
        mover: person | product | car | character.
        n: Number of movements (1-3).
        product: Product category involved (held or shown), for lids and pouring.
        held: Whether a person holds the product at the start.
        first: Force the first movement (compositional split).
        forbid_first: First movements not to use (held-out combinations outside the compositional split).
    """
    ctx = {"product": product}
    names = list(MOVEMENTS)
    for _ in range(30):
        st = {"used": set(), "side": "centre", "holding": held, "lid": False, "zoom": False}
        seq: list[str] = []
        start_side = "centre"
        for idx in range(n):
            if idx == 0 and first is not None:
                cands = [first] if _allowed(first, 0, n, mover, st, ctx) else []
            else:
                cands = [m for m in names if _allowed(m, idx, n, mover, st, ctx)]
                if idx == 0:
                    cands = [m for m in cands if m not in forbid_first]
            if not cands:
                break
            m = rng.choices(cands, weights=[_WEIGHTS.get(c, 1.0) for c in cands])[0]
            _apply(m, idx, st)
            if idx == 0:
                start_side = _OPPOSITE.get(m, "centre")
            seq.append(m)
        if len(seq) == n:
            return tuple(seq), start_side
        if first is not None and not seq:
            return None  # the forced first movement is impossible here
    return None


def sample_character(rng: random.Random, classes: tuple[str, ...], *, colour: str | None = None) -> Character:
    """Draw a game character of one of ``classes``; ``colour`` forces the outfit colour."""
    cls = rng.choice(classes)
    assert cls in CHARACTERS, cls
    cape = rng.choice(list(COLOURS)) if rng.random() < 0.4 else None
    return Character(cls=cls, outfit_colour=colour or rng.choice(list(COLOURS)), cape=cape)


def sample_enemy(rng: random.Random) -> tuple[str, str] | None:
    """An optional enemy next to a game character."""
    if rng.random() < 0.5:
        return None
    return rng.choice(ENEMIES), rng.choice(("green", "purple", "red", "blue"))

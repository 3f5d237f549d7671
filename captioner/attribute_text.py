"""From attribute probabilities to attributes, and from attributes to one short description in the catalog's words.

The attribute types are those of the synthetic ad catalog (``corpus.synth.queries.clip_attributes``): one value
each for the person (noun, hair colour and style, clothing colour, pattern, garment), the product (category,
colour, material), the game character (class, outfit), the setting and the enemy; accessories and capes present or
not, with a colour; movements per mover; the camera; whether the product is held.

:func:`decode_attributes` keeps, per single-valued type, the most probable value when it reaches ``min_value``
(so a clip without a person names no hair colour), and every other attribute at ``min_flag`` or more.
:func:`attributes_text` writes them in the words the training descriptions use (the description channel embeds it
beside the generated descriptions; a query's own wording is matched by meaning, never by this table).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from corpus.synth.ontology import SETTINGS
from corpus.synth.phrases import MATERIAL_WORDS

__all__ = ["SINGLE_VALUED", "attributes_text", "decode_attributes"]

SINGLE_VALUED = frozenset(
    {
        "noun",
        "garment",
        "clothing",
        "pattern",
        "hair_colour",
        "hair_style",
        "product",
        "product_colour",
        "material",
        "setting",
        "character",
        "outfit",
        "enemy",
    }
)
_COLOURED = ("hat", "bag", "cape")  # ("hat",) present; ("hat", colour) its colour
_HAIR = {"ponytail": "hair in a ponytail", "bun": "hair in a bun", "curly": "curly hair"}
_PATTERN = {"solid": "plain", "striped": "striped", "dotted": "polka dot", "checked": "checked"}
_MOVES = {
    "enter_left": "enters from the left",
    "enter_right": "enters from the right",
    "exit_left": "exits to the left",
    "exit_right": "exits to the right",
    "walk_to_left": "walks to the left",
    "walk_to_right": "walks to the right",
    "jump": "jumps",
    "wave": "waves",
    "spin": "spins around",
    "shake": "shakes",
    "pick_up": "picks up the product",
    "put_down": "puts down the product",
    "raise": "raises the product",
    "pour": "pours",
    "open_lid": "opens its lid",
    "fall": "falls",
    "attack": "attacks",
}


def decode_attributes(
    probabilities: Sequence[float],
    vocabulary: Sequence[Sequence[str]],
    *,
    min_value: float = 0.3,
    min_flag: float = 0.5,
) -> list[tuple[str, ...]]:
    """The attributes of one clip from its probabilities (one per vocabulary entry), in vocabulary order."""
    if len(probabilities) != len(vocabulary):
        raise ValueError(f"{len(probabilities)} probabilities for {len(vocabulary)} attributes")
    vocab = [tuple(a) for a in vocabulary]
    best: dict[str, int] = {}  # single-valued type, or a coloured item's colour ("hat", "grey") -> most probable entry
    for i, a in enumerate(vocab):
        group = a[0] if a[0] in SINGLE_VALUED else f"colour of {a[0]}" if a[0] in _COLOURED and len(a) == 2 else None
        if group is not None and (group not in best or probabilities[i] > probabilities[best[group]]):
            best[group] = i
    keep = {i for group, i in best.items() if group in SINGLE_VALUED and probabilities[i] >= min_value}
    for i, a in enumerate(vocab):
        if a[0] not in SINGLE_VALUED and not (a[0] in _COLOURED and len(a) == 2) and probabilities[i] >= min_flag:
            keep.add(i)
            if f"colour of {a[0]}" in best:  # a kept item keeps its most probable colour
                keep.add(best[f"colour of {a[0]}"])
    return [vocab[i] for i in sorted(keep)]


def attributes_text(attributes: Iterable[Sequence[str]]) -> str:
    """Short sentences stating ``attributes`` (setting, person, accessories, character, product, movements, camera)."""
    attrs = {tuple(a) for a in attributes}
    one = {a[0]: a[1] for a in attrs if a[0] in SINGLE_VALUED and len(a) == 2}
    colour = {a[0]: a[1] for a in attrs if a[0] in _COLOURED and len(a) == 2}
    out = []
    if "setting" in one:
        place = SETTINGS[one["setting"]].phrases[0] if one["setting"] in SETTINGS else one["setting"]
        out.append(f"{place[0].upper()}{place[1:]}.")
    if "noun" in one:
        hair = _HAIR.get(one.get("hair_style", ""), f"{one.get('hair_style', '')} hair")
        clothes = [one.get("clothing"), _PATTERN.get(one.get("pattern", "")), one.get("garment", "outfit")]
        out.append(
            f"A {one['noun']} with {one.get('hair_colour', '')} {hair}, wearing a {' '.join(w for w in clothes if w)}."
        )
        items = [f"a {colour.get(n, '')} {n}" for n in ("hat", "bag") if (n,) in attrs]
        items += ["glasses"] if ("glasses",) in attrs else []
        if items:
            out.append(f"With {' and '.join(items)}.")
    if "character" in one:
        cape = f" with a {colour.get('cape', '')} cape" if ("cape",) in attrs else ""
        out.append(f"A {one.get('outfit', '')} {one['character']} game character{cape}.")
        if "enemy" in one:
            out.append(f"A {one['enemy']} enemy.")
    if "product" in one:
        material = MATERIAL_WORDS.get(one.get("material", ""), ("",))[0]
        held = ", held in hand" if ("relation", "held") in attrs else ""
        out.append(f"A {one.get('product_colour', '')} {material} {one['product']}{held}.")
    for a in sorted(a for a in attrs if a[0] == "move" and len(a) == 3):
        out.append(f"The {a[1]} {_MOVES.get(a[2], a[2].replace('_', ' '))}.")
    for a in sorted(a for a in attrs if a[0] == "camera" and len(a) == 2):
        out.append(f"The camera {a[1].replace('_', 's ', 1)}.")
    return " ".join(" ".join(s.split()) for s in out)

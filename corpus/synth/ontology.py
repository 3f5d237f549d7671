"""The vocabulary of the synthetic ad catalog: colours, people, products, game characters, settings, movements, labels.

Everything here is constant data. Words in these tables are the exact words the descriptions use, so a rendered
attribute and its word are defined in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACCESSORIES",
    "BRANDS",
    "CAMERA_MOVES",
    "CHARACTERS",
    "COLOURS",
    "ENEMIES",
    "FEMALE",
    "GAME_GENRES",
    "HAIR_BY_NOUN",
    "HAIR_COLOURS",
    "HAIR_STYLES",
    "INDUSTRIES",
    "MATERIALS",
    "MOVEMENTS",
    "PATTERNS",
    "PERSON_NOUNS",
    "PRODUCTS",
    "SETTINGS",
    "STUDIO_BACKDROPS",
    "SUB_PRODUCTS",
    "SUB_SETTINGS",
    "CharacterClass",
    "Industry",
    "Movement",
    "ProductCategory",
    "Setting",
    "contrast_colour",
    "lid_colour",
]

RGB = tuple[int, int, int]

# Bold, well separated colours: a tiny model sees them at ~100 px, so no near-duplicates (no navy vs blue).
COLOURS: dict[str, RGB] = {
    "red": (214, 36, 36),
    "orange": (247, 128, 16),
    "yellow": (250, 212, 24),
    "green": (34, 150, 58),
    "blue": (30, 78, 212),
    "purple": (122, 48, 172),
    "pink": (246, 110, 172),
    "brown": (122, 70, 34),
    "black": (24, 24, 24),
    "white": (242, 242, 242),
    "grey": (128, 128, 128),
}

_LIGHT = {"yellow", "white", "pink", "orange"}


def contrast_colour(colour: str) -> str:
    """The second colour of a pattern (stripes, dots, checks) on ``colour``: black on light colours, else white."""
    return "black" if colour in _LIGHT else "white"


def lid_colour(colour: str) -> str:
    """The colour of the cap of a bottle or the lid of a jar: black on light or grey products, else white."""
    return "black" if colour in _LIGHT or colour == "grey" else "white"


PATTERNS = ("solid", "striped", "dotted", "checked")
HAIR_STYLES = ("ponytail", "bun", "short", "long", "curly")
HAIR_COLOURS: dict[str, RGB] = {
    "black": (20, 16, 14),
    "brown": (104, 58, 26),
    "blonde": (236, 196, 90),
    "red": (190, 64, 22),
}
ACCESSORIES = ("glasses", "hat", "bag")

PERSON_NOUNS = ("woman", "man", "girl", "boy")
FEMALE = frozenset({"woman", "girl"})
# Hair styles by gender, so that "a man with a ponytail" stays rare rather than the norm.
HAIR_BY_NOUN = {
    "woman": ("ponytail", "bun", "short", "long", "curly"),
    "girl": ("ponytail", "bun", "short", "long", "curly"),
    "man": ("short", "curly", "bun"),
    "boy": ("short", "curly"),
}

# Materials and the rendering cue that shows each one (see draw_product.py).
MATERIALS = {
    "glass": "transparent with a bright highlight",
    "plastic": "flat colour with a small gloss spot",
    "metal": "shiny light and dark bands",
    "leather": "darker with white stitching",
    "paper": "matte with speckles and a fold",
    "wood": "wavy grain lines",
    "canvas": "a fine woven grid",
}


@dataclass(frozen=True)
class ProductCategory:
    """A product kind: its word, the materials it comes in, and what it can do on screen."""

    name: str  # the noun used in texts
    materials: tuple[str, ...]
    aspect: float  # width / height of the drawn product
    lid: str | None = None  # "lid" or "cap" when it can be opened
    pourable: bool = False
    label: bool = True  # carries a label with the brand name


PRODUCTS: dict[str, ProductCategory] = {
    p.name: p
    for p in (
        ProductCategory("bottle", ("glass", "plastic", "metal"), 0.42, lid="cap", pourable=True),
        ProductCategory("jar", ("glass", "plastic", "wood"), 0.85, lid="lid"),
        ProductCategory("phone", ("metal", "plastic", "glass"), 0.52),
        ProductCategory("shoe", ("leather", "canvas", "plastic"), 1.7, label=False),
        ProductCategory("handbag", ("leather", "paper", "canvas"), 1.05),
        ProductCategory("cup", ("paper", "glass", "plastic"), 0.8, pourable=True),
        ProductCategory("box", ("paper", "wood", "metal"), 1.0, lid="lid"),
        ProductCategory("lipstick", ("metal", "plastic"), 0.3, lid="cap", label=False),  # too thin for a label
        ProductCategory("watch", ("metal", "leather", "plastic"), 0.55, label=False),
        ProductCategory("headphones", ("plastic", "metal", "leather"), 1.0, label=False),
        ProductCategory("car", ("metal",), 2.0, label=False),
    )
}


# Game characters: the outfit noun, the item they hold and the attack each one performs.
@dataclass(frozen=True)
class CharacterClass:
    """A game character class: outfit word, held item and its attack phrases."""

    name: str
    outfit: str  # "armor", "robe", ...
    item: str  # what it holds, named in the description
    attacks: tuple[str, ...]  # verb phrases for the "attack" movement


CHARACTERS: dict[str, CharacterClass] = {
    c.name: c
    for c in (
        CharacterClass("knight", "armor", "a sword and a shield", ("swings its sword", "slashes with its sword")),
        CharacterClass("robot", "metal body", "a laser arm", ("fires a laser beam", "shoots a laser")),
        CharacterClass("wizard", "robe", "a magic staff", ("casts a spell", "casts a sparkling spell")),
        CharacterClass("archer", "tunic", "a bow", ("shoots an arrow", "fires an arrow from its bow")),
        CharacterClass("ninja", "suit", "a katana", ("slashes with its katana", "swings its katana")),
        CharacterClass("pirate", "coat", "a cutlass", ("swings its cutlass", "slashes with its cutlass")),
    )
}
ENEMIES = ("slime", "bat")


@dataclass(frozen=True)
class Setting:
    """A background: its words, whether it is a game map, and the height (fraction of H) where things rest."""

    name: str
    phrases: tuple[str, ...]  # place phrases of descriptions, with their preposition ("in a tiled kitchen")
    general: str  # coarse location of a general caption: few distinct ones, as a BLIP-2 caption has
    game: bool = False
    surface_y: float = 0.74  # products standing alone rest on this line (fraction of height)
    surface: str = "table"  # what products stand on, named in "falls onto the {surface}"


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("table", ("at a wooden table", "at a brown wooden table"), "in a room", False, 0.70, "table"),
        Setting(
            "kitchen", ("in a kitchen with white tiles", "in a tiled kitchen"), "in a room", False, 0.68, "counter"
        ),
        Setting(
            "street", ("on a city street", "on a street with tall buildings"), "on a street", False, 0.78, "sidewalk"
        ),
        Setting(
            "studio",
            ("in a studio with a {backdrop} backdrop", "in front of a plain {backdrop} studio wall"),
            "in a room",
            False,
            0.76,
            "floor",
        ),
        Setting("beach", ("on a sunny beach", "on a sandy beach by the sea"), "on the beach", False, 0.8, "sand"),
        Setting(
            "living_room",
            ("in a living room with a red sofa", "in a cosy living room"),
            "in a room",
            False,
            0.82,
            "floor",
        ),
        Setting("office", ("in a bright office", "in an office with window blinds"), "in a room", False, 0.82, "floor"),
        Setting("park", ("in a green park", "in a park with round trees"), "in a park", False, 0.8, "grass"),
        Setting(
            "classroom",
            ("in a classroom with a green chalkboard", "in front of a classroom chalkboard"),
            "in a room",
            False,
            0.82,
            "floor",
        ),
        Setting(
            "castle_map", ("on a castle map", "on a grey stone castle level"), "in a video game", True, 0.82, "ground"
        ),
        Setting(
            "forest_map",
            ("on a forest map with pine trees", "on a green forest level"),
            "in a video game",
            True,
            0.82,
            "ground",
        ),
        Setting(
            "desert_map",
            ("on a desert map with a pyramid", "on an orange desert level"),
            "in a video game",
            True,
            0.82,
            "ground",
        ),
        Setting(
            "space_map",
            ("on a space map with a ringed planet", "on a starry space level"),
            "in a video game",
            True,
            0.82,
            "ground",
        ),
        Setting(
            "lava_map", ("on a volcano map with lava", "on a dark lava level"), "in a video game", True, 0.82, "ground"
        ),
        Setting(
            "candy_map", ("on a pink candy map", "on a candy puzzle board"), "in a video game", True, 0.82, "ground"
        ),
    )
}
STUDIO_BACKDROPS: dict[str, RGB] = {
    "pink": (250, 196, 214),
    "blue": (170, 204, 246),
    "yellow": (250, 236, 160),
    "grey": (200, 200, 200),
}


@dataclass(frozen=True)
class Movement:
    """A movement type: who can perform it and where in a sequence it may stand."""

    name: str
    kinds: frozenset[str]  # "person", "product", "character", "car"
    position: str = "any"  # "first" (starts off-screen), "last" (ends off-screen or lying), "any"


_ALL = frozenset({"person", "product", "character", "car"})
_BODY = frozenset({"person", "character"})
MOVEMENTS: dict[str, Movement] = {
    m.name: m
    for m in (
        Movement("enter_left", _ALL, "first"),
        Movement("enter_right", _ALL, "first"),
        Movement("exit_left", _ALL, "last"),
        Movement("exit_right", _ALL, "last"),
        Movement("walk_to_right", _BODY),  # walks across to the right side of the frame
        Movement("walk_to_left", _BODY),
        Movement("jump", _ALL),
        Movement("wave", _BODY),
        Movement("spin", frozenset({"person", "product", "character"})),
        Movement("shake", frozenset({"product", "car", "person"})),  # a person shakes the product held
        Movement("pick_up", frozenset({"person"})),
        Movement("put_down", frozenset({"person"})),
        Movement("raise", frozenset({"person"})),
        Movement("pour", frozenset({"person", "product"})),
        Movement("open_lid", frozenset({"product"})),
        Movement("fall", frozenset({"product", "character"})),  # product: drops in (first); character: collapses (last)
        Movement("attack", frozenset({"character"})),
        Movement("zoom_in", _ALL),
        Movement("zoom_out", _ALL),
    )
}
CAMERA_MOVES = frozenset({"zoom_in", "zoom_out"})


@dataclass(frozen=True)
class Industry:
    """An ad industry: its share of videos, sub-industries with their shares, and what its videos show."""

    name: str
    share: float  # fraction of videos
    subs: dict[str, float]  # sub-industry -> share within the industry
    settings: tuple[str, ...]
    shot_kinds: dict[str, float]  # shot kind -> probability


# Ad-platform-like proportions: e-commerce and games dominate.
INDUSTRIES: dict[str, Industry] = {
    i.name: i
    for i in (
        Industry(
            "e-commerce",
            0.45,
            {"beauty": 0.27, "fashion": 0.25, "electronics": 0.18, "food & drink": 0.17, "home": 0.13},
            (),
            {"person_product": 0.45, "product": 0.4, "person": 0.15},
        ),
        Industry(
            "games",
            0.30,
            {"role-playing": 0.3, "strategy": 0.2, "action": 0.2, "puzzle": 0.17, "casual": 0.13},
            (),
            {"character": 1.0},
        ),
        Industry(
            "finance",
            0.06,
            {"banking": 0.6, "insurance": 0.4},
            ("office", "street", "living_room"),
            {"person_product": 0.5, "person": 0.35, "product": 0.15},
        ),
        Industry(
            "education",
            0.06,
            {"language learning": 0.55, "online courses": 0.45},
            ("classroom", "office", "living_room"),
            {"person_product": 0.4, "person": 0.5, "product": 0.1},
        ),
        Industry("travel", 0.05, {"hotels": 0.5, "flights": 0.5}, ("beach", "street", "park"), {"person": 1.0}),
        Industry("auto", 0.04, {"cars": 1.0}, ("street", "studio", "park"), {"car": 0.7, "person": 0.3}),
        Industry(
            "apps",
            0.04,
            {"social": 0.5, "productivity": 0.5},
            ("living_room", "street", "office", "park"),
            {"person_product": 0.5, "person": 0.3, "product": 0.2},
        ),
    )
}
# What an e-commerce sub-industry sells and where it is filmed.
SUB_PRODUCTS: dict[str, tuple[str, ...]] = {
    "beauty": ("lipstick", "jar", "bottle"),
    "fashion": ("shoe", "handbag", "watch"),
    "electronics": ("phone", "headphones", "watch"),
    "food & drink": ("bottle", "cup", "box", "jar"),
    "home": ("box", "cup", "jar"),
}
SUB_SETTINGS: dict[str, tuple[str, ...]] = {
    "beauty": ("studio", "table", "living_room"),
    "fashion": ("street", "studio", "park"),
    "electronics": ("table", "office", "studio", "living_room"),
    "food & drink": ("kitchen", "table", "beach", "park"),
    "home": ("living_room", "kitchen", "table"),
}
# Game genre -> (character classes, maps).
GAME_GENRES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "role-playing": (("knight", "wizard", "archer"), ("castle_map", "forest_map", "lava_map")),
    "strategy": (("knight", "pirate", "archer"), ("castle_map", "desert_map", "forest_map")),
    "action": (("ninja", "robot", "pirate"), ("space_map", "lava_map", "desert_map")),
    "puzzle": (("robot", "wizard"), ("candy_map", "space_map")),
    "casual": (("robot", "pirate", "ninja"), ("candy_map", "forest_map")),
}

# Invented brand names: short and upper-case so that they stay legible on a 144-px-wide frame.
BRANDS = (
    "LUMA",
    "ZENO",
    "KIRA",
    "NOVA",
    "VELA",
    "ORBI",
    "MIRO",
    "TAVI",
    "SOLA",
    "BRIO",
    "FLUX",
    "JUNO",
    "KOVA",
    "LIRO",
    "MAVE",
    "NIKO",
    "OPAL",
    "PIXA",
    "QUBO",
    "RIVA",
    "SAGE",
    "TIKO",
    "UMBA",
    "VOXA",
    "WEXO",
    "YARA",
    "ZEST",
    "AURA",
    "BOLT",
    "CIRO",
    "DUNE",
    "ECHO",
    "FIZZ",
    "GALA",
    "HALO",
    "IRIS",
    "JADE",
    "KENO",
    "LOOP",
    "MINT",
)

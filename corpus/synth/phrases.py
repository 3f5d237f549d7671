"""Phrase banks of the descriptions: several wordings per fact, so that a model must learn content, not strings.

Every movement phrase starts with its verb (camera phrases with "the camera" and then the verb); ``MOVEMENT_WORDS``
collects those verbs so that the voice-over can be checked to never mention a movement.
"""

from __future__ import annotations

from corpus.synth.ontology import CHARACTERS

__all__ = [
    "CAMERA",
    "FINALLY",
    "MATERIAL_CUES",
    "MATERIAL_WORDS",
    "MOVEMENT_WORDS",
    "MOVES",
    "SETTING_DETAILS",
    "THEN",
    "move_phrases",
]

THEN = ("then", "after that", "next")
FINALLY = ("finally", "at the end", "lastly")

# {obj}: "the bottle"; {pos}: her / his / its; {surface}: what a product stands on; {lid}: lid / cap.
_BODY_MOVES = {
    "enter_left": ("enters from the left", "walks in from the left side", "steps into the frame from the left"),
    "enter_right": ("enters from the right", "walks in from the right side", "steps into the frame from the right"),
    "exit_left": ("exits to the left", "walks out of the frame to the left", "leaves the frame on the left side"),
    "exit_right": ("exits to the right", "walks out of the frame to the right", "leaves the frame on the right side"),
    "walk_to_right@left": (
        "walks across the frame from left to right",
        "walks from the left side to the right side",
        "walks from left to right",
    ),
    "walk_to_right@centre": ("walks to the right", "walks over to the right side"),
    "walk_to_left@right": (
        "walks across the frame from right to left",
        "walks from the right side to the left side",
        "walks from right to left",
    ),
    "walk_to_left@centre": ("walks to the left", "walks over to the left side"),
    "jump": ("jumps", "jumps up", "leaps into the air"),
    "wave": ("waves {pos} hand", "waves at the camera", "waves hello"),
    "spin": ("turns around", "spins around", "turns a full circle"),
}
MOVES: dict[str, dict[str, tuple[str, ...]]] = {
    "person": {
        **_BODY_MOVES,
        "shake": ("shakes the {obj}", "shakes the {obj} in {pos} hand"),
        "pick_up": ("picks up the {obj} from the stand", "picks up the {obj}", "takes the {obj} from the stand"),
        "put_down": ("puts the {obj} down on the stand", "puts the {obj} back on the stand", "sets the {obj} down"),
        "raise": ("raises the {obj} above {pos} head", "lifts the {obj} over {pos} head", "raises the {obj} up high"),
        "pour": ("pours liquid from the {obj}", "tilts the {obj} and pours it out"),
    },
    "character": {
        **_BODY_MOVES,
        "enter_left": ("runs in from the left", "enters the map from the left"),
        "enter_right": ("runs in from the right", "enters the map from the right"),
        "exit_left": ("runs out to the left", "exits the map on the left"),
        "exit_right": ("runs out to the right", "exits the map on the right"),
        "wave": ("waves", "waves its hand"),
        "fall": ("falls to the ground", "collapses onto the ground", "falls over"),
    },
    "product": {
        "enter_left": ("slides in from the left", "moves into the frame from the left", "enters from the left"),
        "enter_right": ("slides in from the right", "moves into the frame from the right", "enters from the right"),
        "exit_left": ("slides out to the left", "moves out of the frame to the left", "exits to the left"),
        "exit_right": ("slides out to the right", "moves out of the frame to the right", "exits to the right"),
        "fall": (
            "falls from above onto the {surface}",
            "drops down onto the {surface}",
            "drops into the frame from the top",
        ),
        "jump": ("bounces up and down", "hops up twice", "bounces twice"),
        "spin": ("rotates in a full circle", "spins around", "rotates once"),
        "shake": ("shakes from side to side", "wobbles left and right", "shakes"),
        "open_lid": ("opens its {lid}", "pops its {lid} open", "lifts its {lid} off"),
        "pour": ("tilts over and pours out liquid", "tips to the side and pours", "pours out liquid"),
    },
    "car": {
        "enter_left": ("drives in from the left", "rolls into the frame from the left"),
        "enter_right": ("drives in from the right", "rolls into the frame from the right"),
        "exit_left": ("drives away to the left", "drives out of the frame to the left"),
        "exit_right": ("drives away to the right", "drives out of the frame to the right"),
        "jump": ("bounces on its wheels", "bounces up and down"),
        "shake": ("shakes", "rocks from side to side"),
    },
}
CAMERA = {
    "zoom_in": ("the camera zooms in on {objp}", "the camera moves closer to {objp}", "the camera zooms in"),
    "zoom_out": ("the camera zooms out", "the camera pulls back", "the camera zooms out to show the scene"),
}


def move_phrases(mover: str, move: str, side: str) -> tuple[str, ...]:
    """The wordings of ``move`` by a ``mover`` standing on ``side`` (walks are worded by where they start)."""
    bank = MOVES[mover]
    if move.startswith("walk_"):
        return bank[f"{move}@{'centre' if side == 'centre' else side}"]
    return bank[move]


MATERIAL_WORDS = {
    "glass": ("glass", "clear glass"),
    "plastic": ("plastic", "glossy plastic"),
    "metal": ("metal", "shiny metal"),
    "leather": ("leather",),
    "paper": ("paper", "matte paper"),
    "wood": ("wooden",),
    "canvas": ("canvas",),
}
MATERIAL_CUES = {
    "glass": (
        "Its glass body is transparent with a bright highlight.",
        "The glass is see-through and catches the light.",
    ),
    "plastic": ("The plastic surface is smooth with a small glossy spot.", "Its plastic body has one shiny spot."),
    "metal": ("Its metal surface shines with light and dark bands.", "The metal body reflects bright bands of light."),
    "leather": (
        "White stitching runs along the edge of the leather.",
        "The leather has white stitches along its edge.",
    ),
    "paper": ("The paper surface is matte and speckled.", "Its paper surface is matte with a soft fold."),
    "wood": ("The wood shows dark grain lines.", "Dark wavy grain runs across the wood."),
    "canvas": ("The canvas has a fine woven texture.", "Its canvas surface shows a fine woven grid."),
}

# A visible detail of each background, added to short descriptions.
SETTING_DETAILS = {
    "table": ("A framed blue picture hangs on the beige wall.", "The wall behind the table is beige."),
    "kitchen": ("Mint cabinets hang above the white tiles.", "Wooden cabinets sit below a grey counter."),
    "street": (
        "A grey road with white dashes runs along the bottom.",
        "Buildings with yellow windows line the street.",
    ),
    "studio": ("A round spotlight lights the floor.", "The floor is lit by a round spotlight."),
    "beach": ("A yellow sun shines over the blue waves.", "Blue waves roll behind the sand."),
    "living_room": ("A bright window hangs above the sofa.", "The floor is made of wooden boards."),
    "office": ("A green plant stands in the corner.", "White blinds cover the window."),
    "park": ("A sandy path leads between the trees.", "Round green trees stand on the grass."),
    "classroom": ("White chalk lines cover the board.", "The chalkboard has a wooden frame."),
    "castle_map": ("Grey stone towers rise under a night sky.", "The walls are made of grey bricks."),
    "forest_map": ("Dark pine trees stand above a checkered grass floor.", "The ground is made of green tiles."),
    "desert_map": ("A green cactus grows on the orange sand.", "Orange dunes cover the ground."),
    "space_map": ("A purple planet with a ring floats among the stars.", "White stars dot the black sky."),
    "lava_map": ("Orange lava flows across the dark ground.", "A dark volcano rises in the back."),
    "candy_map": ("Rows of colourful candies fill the top of the screen.", "Round sweets sit in a grid."),
}


def _base(verb: str) -> str:
    """'slashes' -> 'slash', 'jumps' -> 'jump'."""
    if verb.endswith(("shes", "ches", "sses", "xes", "zes")):
        return verb[:-2]
    return verb[:-1] if verb.endswith("s") else verb


def _verbs() -> frozenset[str]:
    phrases = [p for bank in MOVES.values() for ps in bank.values() for p in ps]
    phrases += [p.removeprefix("the camera ") for ps in CAMERA.values() for p in ps]
    phrases += [p for c in CHARACTERS.values() for p in c.attacks]
    verbs = {p.split()[0] for p in phrases} | {"attacks", "walks", "jumps", "spins", "zooms"}
    return frozenset(verbs | {_base(v) for v in verbs})


MOVEMENT_WORDS = _verbs()

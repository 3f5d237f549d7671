"""Drawing people: a bold 2-D figure with patterned clothing, hair style, accessories and posed arms and legs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageDraw

from corpus.synth.motion import Pose
from corpus.synth.ontology import COLOURS, FEMALE, HAIR_COLOURS, contrast_colour
from corpus.synth.scene import Person

__all__ = ["OUTLINE", "SKIN", "Skeleton", "Sprite", "draw_person", "pattern_texture"]

OUTLINE = (28, 24, 24)
SKIN = ((255, 218, 182), (232, 184, 138), (188, 128, 88), (118, 78, 48))
_TROUSERS = (50, 56, 78)
_SHOES = (36, 30, 30)


@dataclass(frozen=True)
class Sprite:
    """An RGBA drawing of a subject, where its feet are, and where its hands are (sprite pixels)."""

    image: Image.Image
    anchor: tuple[float, float]  # feet centre
    right_hand: tuple[float, float]  # the hand on the right of the screen
    left_hand: tuple[float, float]


@dataclass(frozen=True)
class Skeleton:
    """Body proportions in units of 1/100 of the figure's height (y negative = up from the feet)."""

    head_y: float = -87
    head_r: float = 10
    shoulder_y: float = -73
    shoulder_x: float = 13
    arm_len: float = 32
    hip_y: float = -42
    leg_w: float = 8

    def hand(self, side: int, theta: float) -> tuple[float, float]:
        """Hand position of the arm on ``side`` (-1 left, +1 right) at ``theta`` degrees from hanging down."""
        t = math.radians(theta)
        return side * (self.shoulder_x + self.arm_len * math.sin(t)), self.shoulder_y + self.arm_len * math.cos(t)


PERSON = Skeleton()
SPRITE_W, SPRITE_H, ANCHOR_Y = 150, 138, 130  # sprite canvas in body units; the feet sit at ANCHOR_Y


class Canvas:
    """A sprite canvas with drawing helpers in body units."""

    def __init__(self, u: float):
        self.u = u
        self.size = (int(SPRITE_W * u), int(SPRITE_H * u))
        self.ax, self.ay = self.size[0] / 2, ANCHOR_Y * u
        self.img = Image.new("RGBA", self.size, (0, 0, 0, 0))
        self.d = ImageDraw.Draw(self.img)

    def p(self, x: float, y: float) -> tuple[float, float]:
        return self.ax + x * self.u, self.ay + y * self.u

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        (a, b), (c, d) = self.p(x0, y0), self.p(x1, y1)
        return min(a, c), min(b, d), max(a, c), max(b, d)

    def poly(self, pts, fill, outline=OUTLINE) -> None:
        self.d.polygon([self.p(x, y) for x, y in pts], fill=fill, outline=outline, width=max(1, round(self.u)))

    def ellipse(self, x0, y0, x1, y1, fill, outline=OUTLINE) -> None:
        self.d.ellipse(self.box(x0, y0, x1, y1), fill=fill, outline=outline, width=max(1, round(self.u)))

    def circle(self, x, y, r, fill, outline=OUTLINE) -> None:
        self.ellipse(x - r, y - r, x + r, y + r, fill, outline)

    def rect(self, x0, y0, x1, y1, fill, outline=OUTLINE) -> None:
        self.d.rectangle(self.box(x0, y0, x1, y1), fill=fill, outline=outline, width=max(1, round(self.u)))

    def line(self, pts, fill, width: float) -> None:
        self.d.line([self.p(x, y) for x, y in pts], fill=fill, width=max(1, round(width * self.u)), joint="curve")

    def textured_poly(self, pts, texture: Image.Image) -> None:
        mask = Image.new("L", self.size, 0)
        ImageDraw.Draw(mask).polygon([self.p(x, y) for x, y in pts], fill=255)
        self.img.paste(texture, (0, 0), mask)
        self.d.polygon([self.p(x, y) for x, y in pts], outline=OUTLINE, width=max(1, round(self.u)))

    def sprite(self, right: tuple[float, float], left: tuple[float, float]) -> Sprite:
        return Sprite(self.img, (self.ax, self.ay), self.p(*right), self.p(*left))


def pattern_texture(colour: str, pattern: str, u: float) -> Image.Image:
    """A sprite-sized texture of ``colour`` with the pattern in its contrast colour, bold enough to survive resizing."""
    size = (int(SPRITE_W * u), int(SPRITE_H * u))
    base, second = COLOURS[colour], COLOURS[contrast_colour(colour)]
    img = Image.new("RGB", size, base)
    d = ImageDraw.Draw(img)
    w, h = size
    if pattern == "striped":
        period, band = max(6, round(10 * u)), max(3, round(5 * u))
        for y in range(0, h, period):
            d.rectangle((0, y, w, y + band - 1), fill=second)
    elif pattern == "dotted":
        step, r = max(7, round(9 * u)), max(2, round(2.6 * u))
        for row, y in enumerate(range(0, h, step)):
            for x in range((row % 2) * step // 2, w, step):
                d.ellipse((x - r, y - r, x + r, y + r), fill=second)
    elif pattern == "checked":
        cell = max(4, round(6 * u))
        for y in range(0, h, cell):
            for x in range(0, w, cell):
                if (x // cell + y // cell) % 2:
                    d.rectangle((x, y, x + cell - 1, y + cell - 1), fill=second)
    else:
        assert pattern == "solid", pattern
    return img


def _legs(c: Canvas, sk: Skeleton, pose: Pose, top: float, colour) -> None:
    swing = 7 * math.sin(pose.walk) if pose.walk >= 0 else 0.0
    for side in (-1, 1):
        foot = (side * 5 + side * swing, -2)
        c.line([(side * 5, top), foot], colour, sk.leg_w)
        c.ellipse(foot[0] - 6, -5, foot[0] + 6, 1, _SHOES)


def _arm(c: Canvas, sk: Skeleton, side: int, theta: float, sleeve, skin) -> tuple[float, float]:
    sx, sy = side * sk.shoulder_x, sk.shoulder_y
    hx, hy = sk.hand(side, theta)
    ex, ey = sx + 0.45 * (hx - sx), sy + 0.45 * (hy - sy)
    c.line([(sx, sy), (hx, hy)], OUTLINE, 7.5)
    c.line([(sx, sy), (hx, hy)], skin, 5.5)
    c.line([(sx, sy), (ex, ey)], sleeve, 6.5)
    c.circle(hx, hy, 3.3, skin)
    return hx, hy


def arm_angles(pose: Pose, *, holding_angle: float = 35.0) -> tuple[float, float]:
    """(left, right) arm angles in degrees from hanging down, for the gestures of ``pose``."""
    swing = 12 * math.sin(pose.walk) if pose.walk >= 0 else 0.0
    left = 10 - swing
    left = left + (155 - left) * pose.wave + 20 * math.sin(pose.wave_phase) * pose.wave
    right = 10 + swing * (1 - pose.hold)
    right += (holding_angle - right) * pose.hold
    right += (78 - right) * pose.reach
    right += (168 - right) * pose.lift
    return left, right


def _hair_back(c: Canvas, sk: Skeleton, person: Person, hair) -> None:
    hy, r = sk.head_y, sk.head_r
    if person.hair_style == "long":
        c.rect(-r - 2, hy - 2, r + 2, hy + 24, hair)
    elif person.hair_style == "ponytail":
        c.ellipse(r - 3, hy - 4, r + 8, hy + 22, hair)
        c.circle(r, hy - 2, 2.2, (230, 60, 90))  # hair tie


def _head(c: Canvas, sk: Skeleton, person: Person, skin, hair, back: bool) -> None:
    hy, r = sk.head_y, sk.head_r
    if person.hair_style == "bun":
        c.circle(0, hy - r - 3, 6, hair)
    if person.hair_style == "curly":
        for a in range(-170, 0, 28):
            t = math.radians(a)
            c.circle(r * math.cos(t), hy + r * math.sin(t), 4.2, hair)
    if back:
        c.circle(0, hy, r, hair)
        return
    c.circle(0, hy, r, skin)
    c.d.chord(c.box(-r - 1, hy - r - 2, r + 1, hy + r * 0.6), 180, 360, fill=hair, outline=OUTLINE)  # hair cap
    for side in (-1, 1):
        c.circle(side * 4, hy + 2, 1.4, OUTLINE, None)
    c.line([(-2.5, hy + 6.5), (2.5, hy + 6.5)], (170, 60, 60), 1.2)


def _accessories(c: Canvas, sk: Skeleton, person: Person, back: bool) -> None:
    hy, r = sk.head_y, sk.head_r
    acc = dict(person.accessories)
    if "glasses" in acc and not back:
        for side in (-1, 1):
            c.d.ellipse(
                c.box(side * 4.5 - 3.6, hy + 2 - 3.2, side * 4.5 + 3.6, hy + 2 + 3.2),
                outline=OUTLINE,
                width=max(2, round(1.6 * c.u)),
            )
        c.line([(-1, hy + 2), (1, hy + 2)], OUTLINE, 1.5)
    if "hat" in acc:
        col = COLOURS[acc["hat"]]
        c.rect(-r - 6, hy - r + 1, r + 6, hy - r + 5, col)  # brim
        c.rect(-r + 2, hy - r - 10, r - 2, hy - r + 2, col)  # crown
        c.rect(-r + 2, hy - r - 2, r - 2, hy - r + 1, OUTLINE)  # band


def _bag(c: Canvas, sk: Skeleton, person: Person) -> None:
    acc = dict(person.accessories)
    if "bag" in acc:
        col = COLOURS[acc["bag"]]
        c.line([(sk.shoulder_x - 4, sk.shoulder_y), (-sk.shoulder_x - 6, sk.hip_y - 2)], col, 2.5)
        c.rect(-sk.shoulder_x - 13, sk.hip_y - 8, -sk.shoulder_x + 1, sk.hip_y + 6, col)


def draw_person(person: Person, pose: Pose, u: float, texture: Image.Image) -> Sprite:
    """Draw ``person`` in ``pose`` at ``u`` pixels per body unit; ``texture`` is the clothing's pattern texture."""
    sk, c = PERSON, Canvas(u)
    skin, hair = SKIN[person.skin], HAIR_COLOURS[person.hair_colour]
    back = pose.sx < 0
    female = person.noun in FEMALE
    sleeve = COLOURS[person.clothing_colour]
    if back:
        _hair_back(c, sk, person, hair)
    elif person.hair_style in ("long", "ponytail"):
        _hair_back(c, sk, person, hair)
    if female:
        _legs(c, sk, pose, -30, skin)
        torso = [(-12, sk.shoulder_y - 1), (12, sk.shoulder_y - 1), (21, -27), (-21, -27)]  # dress
    else:
        _legs(c, sk, pose, sk.hip_y + 2, _TROUSERS)
        torso = [
            (-sk.shoulder_x - 1, sk.shoulder_y - 1),
            (sk.shoulder_x + 1, sk.shoulder_y - 1),
            (12, sk.hip_y + 2),
            (-12, sk.hip_y + 2),
        ]
    c.textured_poly(torso, texture)
    _bag(c, sk, person)
    left, right = arm_angles(pose)
    lh = _arm(c, sk, -1, left, sleeve, skin)
    rh = _arm(c, sk, 1, right, sleeve, skin)
    c.rect(-3, sk.head_y + sk.head_r - 2, 3, sk.shoulder_y, skin, None)  # neck
    _head(c, sk, person, skin, hair, back)
    _accessories(c, sk, person, back)
    return c.sprite(rh, lh)

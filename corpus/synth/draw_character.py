"""Drawing game characters (knight, robot, wizard, archer, ninja, pirate) and their attack effects."""

from __future__ import annotations

import math

from PIL import ImageDraw

from corpus.synth.draw_body import OUTLINE, SKIN, Canvas, Skeleton, Sprite, arm_angles
from corpus.synth.motion import Pose
from corpus.synth.ontology import COLOURS
from corpus.synth.scene import Character

__all__ = ["CHIBI", "draw_attack", "draw_character"]

CHIBI = Skeleton(head_y=-72, head_r=17, shoulder_y=-50, shoulder_x=13, arm_len=22, hip_y=-26, leg_w=9)
_STEEL, _WOOD, _DARK = (196, 200, 210), (130, 80, 40), (60, 60, 70)
_MELEE = ("knight", "ninja", "pirate")


def _shade(rgb, k: float):
    return tuple(max(0, min(255, int(v * k))) for v in rgb)


def _attack_angle(cls: str, p: float, base: float) -> float:
    """Right-arm angle during an attack at progress ``p``."""
    if p < 0:
        return base
    if cls in _MELEE:  # raise, then swing down hard, then back
        if p < 0.35:
            return base + (170 - base) * p / 0.35
        if p < 0.7:
            return 170 - 130 * (p - 0.35) / 0.35
        return 40 + (base - 40) * (p - 0.7) / 0.3
    if cls == "wizard":
        return 150.0
    return 90.0  # archer and robot aim straight ahead


def _head(c: Canvas, ch: Character, outfit, skin, back: bool) -> None:
    hy, r = CHIBI.head_y, CHIBI.head_r
    cls = ch.cls
    if cls == "robot":
        c.line([(0, hy - r), (0, hy - r - 9)], _DARK, 2)
        c.circle(0, hy - r - 10, 3, (240, 60, 60))
        c.rect(-r, hy - r, r, hy + r - 2, _shade(outfit, 1.1))
        if not back:
            for side in (-1, 1):
                c.rect(side * 7 - 4, hy - 4, side * 7 + 4, hy + 2, (60, 240, 250))
        return
    if cls == "knight":
        c.circle(0, hy, r, _STEEL)
        c.poly([(-3, hy - r), (3, hy - r), (8, hy - r - 12), (-8, hy - r - 12)], _shade(outfit, 1.2))  # plume
        if not back:
            c.rect(-r + 4, hy - 2, r - 4, hy + 3, OUTLINE, None)  # visor slit
        return
    if cls == "archer":
        c.circle(0, hy - 1, r + 3, outfit)  # hood
        if not back:
            c.circle(0, hy + 2, r - 5, skin)
    elif cls == "ninja":
        c.circle(0, hy, r, outfit)
        if not back:
            c.rect(-r + 3, hy - 5, r - 3, hy + 3, skin, None)
    else:
        c.circle(0, hy, r, skin)
    if not back:
        for side in (-1, 1):
            c.circle(side * 6, hy, 2.2, OUTLINE, None)
    if cls == "wizard":
        if not back:
            c.poly([(-10, hy + 6), (10, hy + 6), (0, hy + 24)], (240, 240, 240))  # beard
        c.poly([(-r - 6, hy - r + 6), (r + 6, hy - r + 6), (3, hy - r - 34)], outfit)  # pointed hat
    elif cls == "pirate":
        c.poly(
            [(-r - 7, hy - r + 6), (r + 7, hy - r + 6), (r, hy - r - 8), (0, hy - r - 2), (-r, hy - r - 8)],
            (30, 30, 30),
        )  # tricorn
        c.circle(0, hy - r - 1, 2.5, (240, 240, 240), None)
        if not back:
            c.circle(-6, hy, 4, (20, 20, 20), None)  # eye patch
            c.line([(-r, hy - 6), (r, hy + 2)], (20, 20, 20), 1.2)


def _item(c: Canvas, cls: str, hand, theta: float) -> None:
    hx, hy = hand
    t = math.radians(theta)
    ux, uy = math.sin(t), math.cos(t)  # along the forearm, away from the shoulder
    if cls in _MELEE:
        length = 30 if cls != "ninja" else 34
        tip = (hx + ux * length, hy + uy * length)
        c.line([(hx, hy), tip], OUTLINE, 5)
        c.line([(hx, hy), tip], _STEEL, 3.2)
        c.line([(hx - uy * 5, hy + ux * 5), (hx + uy * 5, hy - ux * 5)], _WOOD, 2.5)  # crossguard
    elif cls == "wizard":
        c.line([(hx, hy + 16), (hx, hy - 28)], _WOOD, 3)
        c.circle(hx, hy - 30, 5, (250, 230, 60))
    elif cls == "archer":
        c.d.arc(c.box(hx - 6, hy - 18, hx + 10, hy + 18), 270, 90, fill=_WOOD, width=max(2, round(3 * c.u)))
        c.line([(hx + 2, hy - 18), (hx + 2, hy + 18)], (240, 240, 240), 0.8)
    elif cls == "robot":
        c.rect(hx - 4, hy - 4, hx + 4 + 10 * ux, hy + 4 + 10 * uy, _DARK)


def draw_character(ch: Character, pose: Pose, u: float) -> Sprite:
    """Draw a game character in ``pose`` at ``u`` pixels per body unit."""
    sk, c = CHIBI, Canvas(u)
    outfit = COLOURS[ch.outfit_colour]
    skin = SKIN[1]
    back = pose.sx < 0
    if ch.cape:
        # Wider than the body at the bottom, so the cape shows on both sides.
        c.poly(
            [(-sk.shoulder_x - 3, sk.shoulder_y), (sk.shoulder_x + 3, sk.shoulder_y), (27, -4), (-27, -4)],
            COLOURS[ch.cape],
        )
    legs = {"robot": _STEEL, "pirate": (236, 236, 236), "archer": _WOOD}.get(ch.cls, _shade(outfit, 0.7))
    swing = 6 * math.sin(pose.walk) if pose.walk >= 0 else 0.0
    for side in (-1, 1):
        foot = (side * 6 + side * swing, -2)
        c.line([(side * 6, sk.hip_y), foot], legs, sk.leg_w)
        c.ellipse(foot[0] - 6, -5, foot[0] + 6, 1, (40, 30, 30))
    if ch.cls == "wizard":  # a robe down to the feet
        torso = [(-sk.shoulder_x, sk.shoulder_y - 2), (sk.shoulder_x, sk.shoulder_y - 2), (19, -4), (-19, -4)]
    else:
        torso = [
            (-sk.shoulder_x - 2, sk.shoulder_y - 2),
            (sk.shoulder_x + 2, sk.shoulder_y - 2),
            (13, sk.hip_y),
            (-13, sk.hip_y),
        ]
    c.poly(torso, outfit)
    if ch.cls == "knight":
        c.line([(0, sk.shoulder_y + 2), (0, sk.hip_y - 2)], _shade(outfit, 1.4), 2.5)  # breastplate ridge
    elif ch.cls == "robot":
        c.rect(-6, sk.shoulder_y + 5, 6, sk.shoulder_y + 15, _DARK)
        c.circle(0, sk.shoulder_y + 10, 2.5, (60, 240, 250), None)
    elif ch.cls in ("ninja", "pirate", "archer"):
        c.rect(-13, sk.hip_y - 6, 13, sk.hip_y - 2, (40, 30, 30), None)  # belt
    left, right = arm_angles(pose, holding_angle=35.0)
    right = _attack_angle(ch.cls, pose.effect, right)
    hands = {}
    for side, theta in ((-1, left), (1, right)):
        sx, sy = side * sk.shoulder_x, sk.shoulder_y
        hx, hy = sk.hand(side, theta)
        arm = _STEEL if ch.cls == "robot" else outfit
        c.line([(sx, sy), (hx, hy)], OUTLINE, 7.5)
        c.line([(sx, sy), (hx, hy)], arm, 5.5)
        c.circle(hx, hy, 3.6, _STEEL if ch.cls in ("robot", "knight") else skin)
        hands[side] = (hx, hy)
    _item(c, ch.cls, hands[1], right)
    if ch.cls == "knight":  # shield on the left arm
        hx, hy = hands[-1]
        c.poly(
            [(hx - 9, hy - 12), (hx + 9, hy - 12), (hx + 9, hy + 2), (hx, hy + 12), (hx - 9, hy + 2)], (236, 236, 236)
        )
        c.line([(hx, hy - 11), (hx, hy + 10)], outfit, 3)
        c.line([(hx - 8, hy - 4), (hx + 8, hy - 4)], outfit, 3)
    _head(c, ch, outfit, skin, back)
    return c.sprite(hands[1], hands[-1])


def draw_attack(d: ImageDraw.ImageDraw, cls: str, hand: tuple[float, float], p: float, u: float, width: int) -> None:
    """Draw the visible effect of an attack (slash arc, spell, arrow, laser) on the frame, at progress ``p``."""
    hx, hy = hand
    if cls in _MELEE:
        if 0.3 < p < 0.8:  # a white slash arc in front of the character
            r = 34 * u
            d.arc((hx - r, hy - r, hx + r, hy + r), 250, 360 + 40, fill=(255, 255, 230), width=max(3, round(4 * u)))
    elif cls == "wizard":
        if p > 0.2:  # a burst of big yellow stars around the staff's orb
            k = (p - 0.2) / 0.8
            cx, cy = hx, hy - 30 * u
            r0 = (10 + 20 * k) * u
            d.ellipse((cx - r0, cy - r0, cx + r0, cy + r0), outline=(255, 250, 170), width=max(2, round(2 * u)))
            for i in range(8):
                a = 2 * math.pi * i / 8 + k
                r = (8 + 34 * k) * u
                x, y = cx + r * math.cos(a), cy + r * math.sin(a)
                s = 7 * u
                d.polygon(
                    [(x, y - s), (x + s / 2.5, y), (x, y + s), (x - s / 2.5, y)],
                    fill=(255, 230, 40),
                    outline=(200, 120, 0),
                )
    elif cls == "archer":
        if p > 0.25:  # the arrow flies right, slowly enough to be seen in several frames
            x = hx + 4 * u + (p - 0.25) / 0.75 * max(0.0, width - hx - 44 * u)  # ends inside the frame
            d.line((x, hy, x + 30 * u, hy), fill=(90, 50, 20), width=max(3, round(3 * u)))
            d.polygon(
                [(x + 30 * u, hy - 5 * u), (x + 40 * u, hy), (x + 30 * u, hy + 5 * u)],
                fill=(220, 220, 230),
                outline=(0, 0, 0),
            )
            d.polygon([(x, hy), (x - 6 * u, hy - 5 * u), (x - 6 * u, hy + 5 * u)], fill=(230, 40, 40))
    elif cls == "robot":
        if 0.25 < p < 0.85:
            d.line((hx + 10 * u, hy, width, hy), fill=(255, 40, 40), width=max(4, round(6 * u)))
            d.line((hx + 10 * u, hy, width, hy), fill=(255, 240, 240), width=max(1, round(2 * u)))

"""Backgrounds of the settings: each a distinct layout and palette, drawn once per shot."""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw

from corpus.synth.ontology import SETTINGS, STUDIO_BACKDROPS

__all__ = ["draw_background"]

_OUT = (40, 30, 30)


def _table(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(232, 214, 186))  # beige wall
    d.rectangle(
        (int(0.15 * w), int(0.12 * h), int(0.55 * w), int(0.36 * h)), fill=(120, 170, 200), outline=_OUT, width=3
    )  # a framed picture
    top = int(0.70 * h)
    d.rectangle((0, top, w, int(0.76 * h)), fill=(168, 104, 52))
    d.rectangle((0, int(0.76 * h), w, h), fill=(118, 70, 32))
    for y in range(int(0.78 * h), h, 7):  # wood grain on the table front
        d.line((0, y, w, y + rng.randint(-2, 2)), fill=(98, 56, 24), width=1)


def _kitchen(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(236, 242, 246))
    step = max(8, w // 12)
    for x in range(0, w, step):  # white tiles with grey grout
        d.line((x, int(0.2 * h), x, int(0.66 * h)), fill=(170, 180, 190), width=1)
    for y in range(int(0.2 * h), int(0.66 * h), step):
        d.line((0, y, w, y), fill=(170, 180, 190), width=1)
    d.rectangle((0, 0, w, int(0.2 * h)), fill=(120, 190, 170), outline=_OUT)  # mint upper cabinets
    d.line((w // 2, 0, w // 2, int(0.2 * h)), fill=_OUT, width=2)
    d.rectangle((0, int(0.66 * h), w, int(0.7 * h)), fill=(150, 150, 156))  # counter top
    d.rectangle((0, int(0.7 * h), w, h), fill=(206, 170, 120))
    for x in range(0, w, w // 3):
        d.rectangle((x + 3, int(0.73 * h), x + w // 3 - 3, h - 4), outline=(120, 90, 60), width=2)


def _street(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(150, 200, 240))
    x = 0
    palette = ((180, 90, 70), (120, 120, 140), (200, 170, 110), (90, 110, 150))
    while x < w:
        bw = rng.randint(w // 5, w // 3)
        top = int(rng.uniform(0.08, 0.3) * h)
        col = palette[rng.randrange(len(palette))]
        d.rectangle((x, top, x + bw, int(0.64 * h)), fill=col, outline=_OUT)
        for wy in range(top + 6, int(0.6 * h), 14):
            for wx in range(x + 4, x + bw - 6, 10):
                d.rectangle((wx, wy, wx + 5, wy + 7), fill=(250, 240, 170))
        x += bw
    d.rectangle((0, int(0.64 * h), w, int(0.8 * h)), fill=(180, 180, 180))  # sidewalk
    d.rectangle((0, int(0.8 * h), w, h), fill=(60, 60, 66))  # road
    for x0 in range(0, w, 24):
        d.rectangle((x0, int(0.9 * h), x0 + 12, int(0.9 * h) + 3), fill=(245, 245, 245))


def _studio(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random, backdrop: str) -> None:
    base = STUDIO_BACKDROPS[backdrop]
    d.rectangle((0, 0, w, h), fill=base)
    floor = tuple(max(0, c - 40) for c in base)
    d.rectangle((0, int(0.74 * h), w, h), fill=floor)
    d.ellipse((int(0.1 * w), int(0.7 * h), int(0.9 * w), int(0.86 * h)), fill=tuple(min(255, c + 30) for c in base))


def _beach(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, int(0.45 * h)), fill=(130, 204, 250))
    d.ellipse((int(0.65 * w), int(0.05 * h), int(0.9 * w), int(0.05 * h) + int(0.25 * w)), fill=(255, 220, 40))
    d.rectangle((0, int(0.45 * h), w, int(0.6 * h)), fill=(20, 110, 190))
    for y in range(int(0.48 * h), int(0.6 * h), 9):
        for x in range(rng.randint(0, 10), w, 26):
            d.arc((x, y, x + 12, y + 6), 180, 360, fill=(240, 250, 255), width=2)
    d.rectangle((0, int(0.6 * h), w, h), fill=(240, 218, 156))


def _living_room(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(204, 182, 220))  # lilac wall
    d.rectangle(
        (int(0.08 * w), int(0.1 * h), int(0.5 * w), int(0.34 * h)),
        fill=(170, 220, 250),
        outline=(250, 250, 250),
        width=4,
    )  # window
    d.line((int(0.29 * w), int(0.1 * h), int(0.29 * w), int(0.34 * h)), fill=(250, 250, 250), width=3)
    d.rounded_rectangle(
        (int(0.02 * w), int(0.5 * h), int(0.98 * w), int(0.8 * h)), radius=10, fill=(178, 40, 50), outline=_OUT
    )  # red sofa
    d.rectangle((0, int(0.8 * h), w, h), fill=(170, 120, 70))


def _office(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(214, 220, 226))
    x0, x1 = int(0.45 * w), int(0.95 * w)
    for y in range(int(0.08 * h), int(0.42 * h), 6):  # window blinds
        d.rectangle((x0, y, x1, y + 3), fill=(240, 240, 244))
    d.rectangle((x0, int(0.08 * h), x1, int(0.42 * h)), outline=(90, 90, 100), width=2)
    d.rectangle((int(0.05 * w), int(0.66 * h), int(0.2 * w), int(0.8 * h)), fill=(150, 80, 40))  # plant pot
    d.ellipse((int(0.0 * w), int(0.46 * h), int(0.26 * w), int(0.68 * h)), fill=(40, 140, 60))
    d.rectangle((0, int(0.8 * h), w, h), fill=(90, 110, 140))  # carpet


def _park(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(160, 214, 250))
    d.rectangle((0, int(0.5 * h), w, h), fill=(96, 176, 70))
    for cx in (0.12, 0.88, 0.5):
        x = int(cx * w)
        d.rectangle((x - 4, int(0.3 * h), x + 4, int(0.52 * h)), fill=(110, 70, 40))
        r = int(0.16 * w)
        d.ellipse((x - r, int(0.16 * h), x + r, int(0.16 * h) + 2 * r), fill=(40, 130, 50), outline=_OUT)
    d.polygon(
        [(int(0.4 * w), h), (int(0.6 * w), h), (int(0.54 * w), int(0.56 * h)), (int(0.46 * w), int(0.56 * h))],
        fill=(222, 200, 150),
    )


def _classroom(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(240, 228, 196))
    d.rectangle(
        (int(0.05 * w), int(0.08 * h), int(0.95 * w), int(0.44 * h)), fill=(30, 92, 60), outline=(150, 100, 50), width=4
    )  # chalkboard
    for i in range(4):
        y = int((0.14 + 0.07 * i) * h)
        d.line(
            (int(0.12 * w), y, int(rng.uniform(0.4, 0.85) * w), y + rng.randint(-3, 3)), fill=(240, 240, 240), width=2
        )
    d.rectangle((0, int(0.82 * h), w, h), fill=(150, 120, 90))


def _castle(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(40, 50, 100))  # night sky
    for tx in (0.0, 0.72):
        x = int(tx * w)
        d.rectangle((x, int(0.12 * h), x + int(0.28 * w), int(0.6 * h)), fill=(120, 120, 130), outline=_OUT)
        for k in range(3):
            bx = x + k * int(0.1 * w)
            d.rectangle((bx, int(0.08 * h), bx + int(0.06 * w), int(0.12 * h)), fill=(120, 120, 130))
    d.rectangle((0, int(0.35 * h), w, int(0.82 * h)), fill=(140, 140, 150))
    bh, bw = 10, 20
    for row, y in enumerate(range(int(0.35 * h), int(0.82 * h), bh)):  # stone bricks
        off = (row % 2) * bw // 2
        for x in range(-off, w, bw):
            d.rectangle((x, y, x + bw, y + bh), outline=(90, 90, 100))
    d.rectangle((0, int(0.82 * h), w, h), fill=(90, 80, 70))


def _forest(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(120, 200, 255))
    for k in range(5):
        x = int((k + 0.5) * w / 5) + rng.randint(-6, 6)
        top = int(rng.uniform(0.15, 0.3) * h)
        d.polygon([(x, top), (x - 18, int(0.62 * h)), (x + 18, int(0.62 * h))], fill=(20, 100, 40), outline=_OUT)
    tile = 16
    for y in range(int(0.62 * h), h, tile):  # checkered grass tiles
        for x in range(0, w, tile):
            d.rectangle(
                (x, y, x + tile, y + tile), fill=(60, 170, 60) if (x // tile + y // tile) % 2 else (80, 190, 70)
            )


def _desert(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(250, 226, 150))
    d.polygon(
        [(int(0.45 * w), int(0.6 * h)), (int(0.7 * w), int(0.3 * h)), (int(0.98 * w), int(0.6 * h))],
        fill=(214, 170, 80),
        outline=_OUT,
    )  # pyramid
    d.rectangle((0, int(0.6 * h), w, h), fill=(236, 150, 60))
    for y in range(int(0.66 * h), h, 12):
        d.arc((-20, y, w + 20, y + 20), 200, 340, fill=(210, 120, 40), width=2)
    x = int(0.15 * w)  # cactus
    d.rectangle((x - 4, int(0.42 * h), x + 4, int(0.62 * h)), fill=(40, 140, 60), outline=_OUT)
    d.rectangle((x - 12, int(0.48 * h), x - 4, int(0.52 * h)), fill=(40, 140, 60))
    d.rectangle((x - 12, int(0.44 * h), x - 8, int(0.52 * h)), fill=(40, 140, 60))


def _space(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(8, 8, 24))
    for _ in range(60):
        x, y = rng.randrange(w), rng.randrange(int(0.8 * h))
        d.rectangle((x, y, x + 1, y + 1), fill=(255, 255, 255))
    r = int(0.16 * w)
    cx, cy = int(0.72 * w), int(0.2 * h)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(200, 120, 220))
    d.ellipse((cx - 2 * r, cy - r // 3, cx + 2 * r, cy + r // 3), outline=(240, 220, 120), width=3)
    d.rectangle((0, int(0.82 * h), w, h), fill=(110, 120, 140))  # metal platform
    for x in range(0, w, 18):
        d.line((x, int(0.82 * h), x, h), fill=(70, 80, 100), width=2)


def _lava(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(60, 20, 20))
    d.polygon(
        [(0, int(0.6 * h)), (int(0.5 * w), int(0.15 * h)), (w, int(0.6 * h))], fill=(40, 30, 30), outline=(0, 0, 0)
    )  # volcano
    d.polygon(
        [(int(0.42 * w), int(0.22 * h)), (int(0.58 * w), int(0.22 * h)), (int(0.5 * w), int(0.15 * h))],
        fill=(255, 120, 0),
    )
    d.rectangle((0, int(0.6 * h), w, h), fill=(50, 40, 40))
    for y in (0.66, 0.74, 0.92):
        yy = int(y * h)
        pts = [(x, yy + int(4 * math.sin(x / 9 + y * 10))) for x in range(0, w + 8, 8)]
        d.line(pts, fill=(255, 110, 0), width=5)


def _candy(d: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random) -> None:
    d.rectangle((0, 0, w, h), fill=(250, 170, 210))
    cols = ((230, 40, 60), (60, 120, 240), (250, 210, 40), (60, 190, 90), (170, 70, 200))
    cell = w // 6
    for gy in range(int(0.05 * h), int(0.5 * h), cell):  # puzzle board of sweets
        for gx in range(0, w - cell + 1, cell):
            d.rounded_rectangle((gx + 2, gy + 2, gx + cell - 2, gy + cell - 2), radius=5, fill=(255, 220, 240))
            d.ellipse((gx + 5, gy + 5, gx + cell - 5, gy + cell - 5), fill=cols[rng.randrange(len(cols))])
    d.rectangle((0, int(0.82 * h), w, h), fill=(200, 110, 160))


_DRAW = {
    "table": _table,
    "kitchen": _kitchen,
    "street": _street,
    "beach": _beach,
    "living_room": _living_room,
    "office": _office,
    "park": _park,
    "classroom": _classroom,
    "castle_map": _castle,
    "forest_map": _forest,
    "desert_map": _desert,
    "space_map": _space,
    "lava_map": _lava,
    "candy_map": _candy,
}


def draw_background(setting: str, w: int, h: int, *, backdrop: str | None = None, seed: int = 0) -> Image.Image:
    """Draw the background of ``setting`` at ``w`` x ``h`` (RGB); ``seed`` varies small details (windows, stars)."""
    assert setting in SETTINGS, f"unknown setting {setting}"
    img = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(img)
    rng = random.Random(seed)
    if setting == "studio":
        _studio(d, w, h, rng, backdrop or "grey")
    else:
        _DRAW[setting](d, w, h, rng)
    return img

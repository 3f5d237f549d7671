"""Drawing products: category silhouettes, material cues (transparency, shine, stitching, grain...) and brand labels."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from corpus.synth.ontology import COLOURS, PRODUCTS, lid_colour
from corpus.synth.scene import Product

__all__ = ["LIQUID", "ProductArt", "compose_product", "draw_product_art"]

_OUT = (28, 24, 24)
LIQUID = (120, 190, 255)


@dataclass(frozen=True)
class ProductArt:
    """A product drawn once per shot: the body on a square canvas and the lid (if any) drawn separately."""

    base: Image.Image  # RGBA square canvas, body centred
    lid: Image.Image | None  # RGBA, the lid alone, cropped
    lid_xy: tuple[int, int]  # where the closed lid's top-left corner sits on the canvas
    body_size: tuple[int, int]  # (w, h) of the body in pixels

    @property
    def centre(self) -> tuple[float, float]:
        return self.base.width / 2, self.base.height / 2


def _accent(colour: str) -> tuple[int, int, int]:
    """The cap / lid colour, named by ``lid_colour`` in the descriptions."""
    return COLOURS[lid_colour(colour)]


def _material(rgb: np.ndarray, mask: np.ndarray, material: str, rng: random.Random) -> np.ndarray:
    """Apply the visual cue of ``material`` to a float RGB layer inside ``mask``; returns an RGBA uint8 array."""
    h, w = mask.shape
    out = rgb.astype(np.float32).copy()
    alpha = np.where(mask, 255.0, 0.0)
    xs = np.arange(w, dtype=np.float32)[None, :] / max(1, w - 1)
    ys = np.arange(h, dtype=np.float32)[:, None] / max(1, h - 1)
    if material == "glass":  # see-through with a bright vertical highlight
        alpha = np.where(mask, 185.0, 0.0)  # the background shows through, the colour still dominates
        hl = (np.abs(xs - 0.3) < 0.05) & mask
        out[np.broadcast_to(hl, mask.shape)] = 255
        alpha = np.where(hl, 235.0, alpha)
    elif material == "metal":  # bands of light and shade across the width
        k = 0.55 + 0.75 * np.abs(np.sin(xs * math.pi * 2.5))
        out = out * k[..., None] + 40 * (k[..., None] > 1.15)
    elif material == "plastic":  # flat with one gloss spot
        cols = np.nonzero(mask.any(axis=0))[0]
        rows = np.nonzero(mask.any(axis=1))[0]
        if len(cols) and len(rows):
            cx = cols[0] + 0.25 * (cols[-1] - cols[0])
            cy = rows[0] + 0.45 * (rows[-1] - rows[0])
            r = max(2.0, 0.09 * (cols[-1] - cols[0]))
            spot = ((np.arange(w)[None, :] - cx) ** 2 + ((np.arange(h)[:, None] - cy) / 1.6) ** 2) < r * r
            out[spot & mask] = 250
    elif material == "leather":  # darker with a dashed white stitch line inside the edge
        out *= 0.78
        m = Image.fromarray(mask.astype(np.uint8) * 255)
        inner = np.asarray(m.filter(ImageFilter.MinFilter(5))) > 0
        inner2 = np.asarray(m.filter(ImageFilter.MinFilter(9))) > 0
        ring = inner & ~inner2
        dash = ((np.arange(w)[None, :] + np.arange(h)[:, None]) // 3) % 2 == 0
        out[ring & dash] = (245, 230, 200)
    elif material == "paper":  # matte, speckled, with a fold
        out = out * 0.9 + 20
        noise = np.random.default_rng(rng.randrange(2**32)).random((h, w)) < 0.06
        out[noise] *= 0.6
        fold = np.abs(xs - 0.5 - 0.3 * (ys - 0.5)) < 0.025
        out[np.broadcast_to(fold, mask.shape)] *= 1.25
    elif material == "wood":  # wavy grain lines
        grain = np.sin(ys * h * 0.55 + 2.5 * np.sin(xs * 6.0))
        out *= (0.78 + 0.22 * (grain > -0.5))[..., None]
    elif material == "canvas":  # a fine woven grid
        grid = ((np.arange(w)[None, :] % 3) == 0) | ((np.arange(h)[:, None] % 3) == 0)
        out[grid & mask] = out[grid & mask] * 0.75
    else:
        raise AssertionError(f"unknown material {material}")
    rgba = np.dstack([np.clip(out, 0, 255), alpha]).astype(np.uint8)
    rgba[~mask] = 0
    return rgba


class _Art:
    """Normalised-coordinate drawing on a square canvas with the body (w x h) centred."""

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.side = int(2.3 * max(w, h)) + 8  # room for a rotation and for a lifted lid
        self.x0, self.y0 = (self.side - w) / 2, (self.side - h) / 2

    def p(self, x: float, y: float) -> tuple[float, float]:
        return self.x0 + x * self.w, self.y0 + y * self.h

    def box(self, x0, y0, x1, y1) -> tuple[float, float, float, float]:
        return (*self.p(x0, y0), *self.p(x1, y1))

    def new(self, mode: str = "RGBA") -> Image.Image:
        return Image.new(mode, (self.side, self.side), 0)


def _body_mask(cat: str, a: _Art) -> Image.Image:
    m = a.new("L")
    d = ImageDraw.Draw(m)
    r = max(2, int(0.18 * a.w))
    if cat == "bottle":
        d.rounded_rectangle(a.box(0.04, 0.3, 0.96, 1.0), radius=r, fill=255)
        d.rectangle(a.box(0.32, 0.12, 0.68, 0.34), fill=255)
    elif cat == "jar":
        d.rounded_rectangle(a.box(0.04, 0.2, 0.96, 1.0), radius=r, fill=255)
    elif cat == "phone":
        d.rounded_rectangle(a.box(0.0, 0.0, 1.0, 1.0), radius=r, fill=255)
    elif cat == "shoe":
        d.polygon(
            [
                a.p(0.02, 0.82),
                a.p(0.04, 0.45),
                a.p(0.3, 0.36),
                a.p(0.48, 0.06),
                a.p(0.72, 0.06),
                a.p(0.78, 0.42),
                a.p(0.98, 0.6),
                a.p(1.0, 0.82),
            ],
            fill=255,
        )
    elif cat == "handbag":
        d.arc(a.box(0.24, 0.0, 0.76, 0.7), 180, 360, fill=255, width=max(3, int(0.08 * a.w)))
        d.polygon([a.p(0.06, 0.34), a.p(0.94, 0.34), a.p(1.0, 1.0), a.p(0.0, 1.0)], fill=255)
    elif cat == "cup":
        d.ellipse(a.box(0.6, 0.28, 1.0, 0.72), outline=255, width=max(3, int(0.1 * a.w)))
        d.polygon([a.p(0.0, 0.06), a.p(0.8, 0.06), a.p(0.7, 1.0), a.p(0.1, 1.0)], fill=255)
    elif cat == "box":
        d.rectangle(a.box(0.04, 0.22, 0.96, 1.0), fill=255)
    elif cat == "lipstick":
        d.rectangle(a.box(0.05, 0.45, 0.95, 1.0), fill=255)
    elif cat == "watch":
        d.rounded_rectangle(a.box(0.22, 0.0, 0.78, 1.0), radius=max(2, int(0.1 * a.w)), fill=255)
        d.ellipse(a.box(0.0, 0.22, 1.0, 0.78), fill=255)
    elif cat == "headphones":
        d.arc(a.box(0.08, 0.0, 0.92, 1.1), 180, 360, fill=255, width=max(3, int(0.12 * a.w)))
        d.rounded_rectangle(a.box(0.0, 0.45, 0.3, 1.0), radius=r, fill=255)
        d.rounded_rectangle(a.box(0.7, 0.45, 1.0, 1.0), radius=r, fill=255)
    elif cat == "car":
        d.rounded_rectangle(a.box(0.0, 0.42, 1.0, 0.84), radius=max(2, int(0.06 * a.w)), fill=255)
        d.polygon([a.p(0.2, 0.44), a.p(0.32, 0.08), a.p(0.7, 0.08), a.p(0.84, 0.44)], fill=255)
    else:
        raise AssertionError(f"no drawing for {cat}")
    return m


def _details(cat: str, a: _Art, d: ImageDraw.ImageDraw, colour: str) -> None:
    """What is drawn over the material: screens, dials, soles, windows, openings under lids."""
    acc = _accent(colour)
    if cat == "phone":
        d.rounded_rectangle(a.box(0.14, 0.08, 0.86, 0.86), radius=3, fill=(24, 30, 54))
        d.ellipse(a.box(0.42, 0.89, 0.58, 0.97), fill=acc)
    elif cat == "shoe":
        d.rectangle(a.box(0.0, 0.8, 1.0, 1.0), fill=(245, 245, 245), outline=_OUT)
        for i in range(3):
            y = 0.28 + 0.12 * i
            d.line((*a.p(0.42, y + 0.1), *a.p(0.62, y)), fill=(250, 250, 250), width=max(2, int(0.02 * a.w)))
    elif cat == "watch":
        d.ellipse(a.box(0.14, 0.3, 0.86, 0.7), fill=(250, 250, 250), outline=_OUT)
        cx, cy = a.p(0.5, 0.5)
        d.line((cx, cy, *a.p(0.5, 0.36)), fill=_OUT, width=2)
        d.line((cx, cy, *a.p(0.68, 0.5)), fill=_OUT, width=2)
    elif cat == "headphones":
        d.rounded_rectangle(a.box(0.2, 0.5, 0.3, 0.95), radius=2, fill=(40, 40, 40))
        d.rounded_rectangle(a.box(0.7, 0.5, 0.8, 0.95), radius=2, fill=(40, 40, 40))
    elif cat == "car":
        for x0, x1 in ((0.33, 0.49), (0.53, 0.7)):
            d.polygon(
                [a.p(x0, 0.42), a.p(x0 + 0.03, 0.14), a.p(x1, 0.14), a.p(x1 + 0.05, 0.42)],
                fill=(170, 220, 250),
                outline=_OUT,
            )
        for cx in (0.22, 0.78):
            d.ellipse(a.box(cx - 0.1, 0.64, cx + 0.1, 1.0), fill=(25, 25, 25))
            d.ellipse(a.box(cx - 0.045, 0.74, cx + 0.045, 0.9), fill=(180, 180, 180))
        d.ellipse(a.box(0.92, 0.5, 0.99, 0.6), fill=(255, 230, 80))
    elif cat == "lipstick":  # the bullet, visible once the cap comes off
        d.polygon([a.p(0.22, 0.46), a.p(0.22, 0.2), a.p(0.78, 0.08), a.p(0.78, 0.46)], fill=(200, 20, 60), outline=_OUT)
    elif cat == "jar":
        d.ellipse(a.box(0.1, 0.16, 0.9, 0.28), fill=(50, 40, 40))
    elif cat == "box":
        d.rectangle(a.box(0.08, 0.2, 0.92, 0.26), fill=(50, 40, 40))
    elif cat == "bottle":
        d.rectangle(a.box(0.36, 0.1, 0.64, 0.14), fill=(50, 40, 40))


def _lid(cat: str, a: _Art, colour: str) -> Image.Image | None:
    lid = PRODUCTS[cat].lid
    if lid is None:
        return None
    img = a.new()
    d = ImageDraw.Draw(img)
    rgb = COLOURS[colour]
    if cat == "bottle":
        d.rectangle(a.box(0.28, 0.0, 0.72, 0.14), fill=_accent(colour), outline=_OUT)
    elif cat == "jar":
        d.rounded_rectangle(a.box(0.0, 0.02, 1.0, 0.22), radius=3, fill=_accent(colour), outline=_OUT)
    elif cat == "box":
        d.rectangle(a.box(0.0, 0.04, 1.0, 0.26), fill=tuple(int(c * 0.8) for c in rgb), outline=_OUT, width=2)
    elif cat == "lipstick":
        d.rectangle(a.box(0.05, 0.0, 0.95, 0.48), fill=tuple(int(c * 0.85) for c in rgb), outline=_OUT, width=2)
    return img


def _label(a: _Art, d: ImageDraw.ImageDraw, cat: str, text: str) -> None:
    box = {
        "bottle": (0.1, 0.5, 0.9, 0.76),
        "jar": (0.1, 0.42, 0.9, 0.76),
        "handbag": (0.22, 0.54, 0.78, 0.8),
        "cup": (0.12, 0.38, 0.72, 0.64),
        "box": (0.14, 0.46, 0.86, 0.76),
        "phone": (0.16, 0.34, 0.84, 0.54),
    }[cat]
    x0, y0, x1, y1 = a.box(*box)
    if cat != "phone":
        d.rectangle((x0, y0, x1, y1), fill=(250, 250, 250), outline=_OUT)
    size = max(6, int(min((x1 - x0) / (0.62 * len(text)), (y1 - y0) * 0.8)))
    font = ImageFont.load_default(size=size)
    d.text(
        ((x0 + x1) / 2, (y0 + y1) / 2),
        text,
        fill=(250, 250, 250) if cat == "phone" else (20, 20, 20),
        font=font,
        anchor="mm",
    )


def draw_product_art(product: Product, height: int, *, seed: int = 0) -> ProductArt:
    """Draw ``product`` with its body ``height`` pixels tall (its width follows the category's aspect)."""
    cat = PRODUCTS[product.category]
    w, h = max(4, round(height * cat.aspect)), height
    a = _Art(w, h)
    mask = np.asarray(_body_mask(product.category, a)) > 0
    layer = np.broadcast_to(np.array(COLOURS[product.colour], np.float32), (*mask.shape, 3))
    base = Image.fromarray(_material(layer, mask, product.material, random.Random(seed)), "RGBA")
    # An outline around the silhouette keeps it readable on any background.
    edge = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.FIND_EDGES)
    base.paste(Image.new("RGBA", base.size, (*_OUT, 255)), (0, 0), edge)
    d = ImageDraw.Draw(base)
    _details(product.category, a, d, product.colour)
    if product.label and cat.label:
        _label(a, d, product.category, product.label)
    lid, lid_xy = _lid(product.category, a, product.colour), (0, 0)
    if lid is not None:
        box = lid.getbbox()
        assert box is not None, "a drawn lid is not empty"
        lid, lid_xy = lid.crop(box), box[:2]
    return ProductArt(base=base, lid=lid, lid_xy=lid_xy, body_size=(w, h))


def compose_product(art: ProductArt, *, lid: float, angle: float) -> Image.Image:
    """The product canvas for one frame: lid lifted by ``lid`` (0..1), all rotated ``angle`` degrees CCW."""
    img = art.base
    if art.lid is not None:
        img = img.copy()
        piece, (x, y) = art.lid, art.lid_xy
        if lid > 0:  # the lid rises, slides right and tips over
            w, h = art.body_size
            cx, cy = x + piece.width / 2 + 0.5 * w * lid, y + piece.height / 2 - 0.35 * h * lid
            piece = piece.rotate(-30 * lid, resample=Image.BILINEAR, expand=True)
            x, y = round(cx - piece.width / 2), round(cy - piece.height / 2)
        img.paste(piece, (x, y), piece)
    if angle % 360:
        img = img.rotate(angle, resample=Image.BILINEAR, center=art.centre)
    return img

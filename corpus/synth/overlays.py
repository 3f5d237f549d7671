"""Screen layers over the scene: the game HUD (health bar, score) and text overlays (brand, price, call to action)."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from corpus.synth.scene import Overlay

__all__ = ["draw_hud", "draw_overlay"]


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def draw_hud(w: int, h: int, *, health: float, score: int) -> Image.Image:
    """A transparent layer with a health bar (top left) and a score counter (top right)."""
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = int(0.04 * w), int(0.03 * h), int(0.5 * w), int(0.03 * h) + max(6, h // 28)
    d.rectangle((x0, y0, x1, y1), fill=(200, 30, 30), outline=(255, 255, 255), width=2)
    d.rectangle((x0 + 2, y0 + 2, x0 + 2 + int((x1 - x0 - 4) * health), y1 - 2), fill=(40, 220, 60))
    size = max(8, h // 22)
    d.text(
        (int(0.96 * w), (y0 + y1) // 2),
        f"{score}",
        fill=(255, 240, 80),
        font=_font(size),
        anchor="rm",
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
    d.ellipse((int(0.6 * w), y0, int(0.6 * w) + (y1 - y0), y1), fill=(255, 200, 0), outline=(0, 0, 0))  # coin icon
    return img


def draw_overlay(overlay: Overlay, w: int, h: int) -> Image.Image:
    """A transparent layer with the brand name (big, upper part) and a tag badge (lower part)."""
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if overlay.brand:
        size = min(h // 9, int(w / (0.66 * len(overlay.brand))))
        d.text(
            (w / 2, 0.15 * h),
            overlay.brand,
            fill=(255, 255, 255),
            font=_font(size),
            anchor="mm",
            stroke_width=max(2, size // 10),
            stroke_fill=(0, 0, 0),
        )
    if overlay.tag:
        size = min(h // 14, int(0.8 * w / (0.62 * len(overlay.tag))))
        font = _font(size)
        x0, y0, x1, y1 = d.textbbox((w / 2, 0.92 * h), overlay.tag, font=font, anchor="mm")
        d.rounded_rectangle((x0 - 6, y0 - 4, x1 + 6, y1 + 4), radius=6, fill=(250, 210, 20), outline=(0, 0, 0), width=2)
        d.text((w / 2, 0.92 * h), overlay.tag, fill=(200, 20, 20), font=font, anchor="mm")
    return img

"""Screen layers over the scene: the game HUD (health bar, score) and text overlays (brand, price, call to action),
and the ground truth of the text a shot shows on screen (``screen_texts``, ``write_ocr_truth``), which the OCR
benchmark (``benchmarks.ocr``) scores against."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from corpus.synth.ontology import PRODUCTS
from corpus.synth.scene import Overlay, Shot

if TYPE_CHECKING:
    from corpus.manifest import VideoRecord
    from corpus.synth.plan import CatalogPlan

__all__ = [
    "OCR_TRUTH_NAME",
    "SCREEN_ROLES",
    "ScreenText",
    "draw_hud",
    "draw_overlay",
    "hud_state",
    "screen_texts",
    "shot_seed",
    "tag_role",
    "write_ocr_truth",
]

OCR_TRUTH_NAME = "ocr_truth.jsonl"  # written beside the manifest by generate_catalog
# What a screen text is: overlays drawn on top of every frame of the shot (brand, price, offer badge, call to action,
# HUD score) and the brand printed on a product's label (small, moving with the product, sometimes out of frame).
SCREEN_ROLES = ("brand", "price", "badge", "cta", "hud", "label")
OVERLAY_ROLES = ("brand", "price", "badge", "cta", "hud")  # on screen for the whole shot, never covered
_CTA_WORDS = ("NOW", "UP", "DRIVE", "TRIAL")  # PLAY NOW, SIGN UP, TEST DRIVE, FREE TRIAL, ...


@dataclass(frozen=True)
class ScreenText:
    """One string rendered on screen in a shot, and its role (one of ``SCREEN_ROLES``)."""

    text: str
    role: str


def shot_seed(video_seed: int, k: int) -> int:
    """The seed shot ``k`` of a video is drawn with (background, product art, HUD values)."""
    return (video_seed + k) % (2**31)


def hud_state(seed: int) -> tuple[float, int]:
    """(health in 0..1, score) that the HUD of a shot drawn with ``seed`` shows."""
    return 0.35 + 0.6 * (seed % 97) / 97, 100 * (seed % 97)


def tag_role(tag: str) -> str:
    """``price`` for a tag with a currency sign, ``cta`` for a call to action, else ``badge`` (SALE, 50% OFF...)."""
    if "$" in tag:
        return "price"
    if any(tag.endswith(w) for w in _CTA_WORDS):
        return "cta"
    return "badge"


def screen_texts(shot: Shot, seed: int) -> list[ScreenText]:
    """Every string rendered on screen in ``shot`` drawn with ``seed`` (see :func:`shot_seed`), in drawing order:
    HUD score, brand overlay, tag overlay, the product label's brand."""
    out = []
    if shot.hud:
        out.append(ScreenText(str(hud_state(seed)[1]), "hud"))
    if shot.overlay is not None:
        if shot.overlay.brand:
            out.append(ScreenText(shot.overlay.brand, "brand"))
        if shot.overlay.tag:
            out.append(ScreenText(shot.overlay.tag, tag_role(shot.overlay.tag)))
    if shot.product is not None and shot.product.label and PRODUCTS[shot.product.category].label:
        out.append(ScreenText(shot.product.label, "label"))
    return out


def write_ocr_truth(plan: CatalogPlan, records: Sequence[VideoRecord], path: str | Path) -> Path:
    """Write the on-screen text of every clip of a catalog as JSONL (atomically), one line per clip in manifest order:
    ``{"uri", "clip" (index in the video's clips), "start_s", "end_s", "texts": [{"text", "role"}, ...]}``.

    A clip that shows no text gets a line with an empty list (reading text there is a false positive).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    with tmp.open("w", encoding="utf-8") as f:
        for video, rec in zip(plan.videos, records, strict=True):
            for k, (shot, clip) in enumerate(zip(video.shots, rec.clips, strict=True)):
                texts = [{"text": t.text, "role": t.role} for t in screen_texts(shot, shot_seed(video.seed, k))]
                row = {"uri": rec.uri, "clip": k, "start_s": clip.start_s, "end_s": clip.end_s, "texts": texts}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


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

"""Rendering a video spec to frames: background, subjects in their poses, effects, camera zoom, HUD and overlays."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from corpus.synth.backgrounds import draw_background
from corpus.synth.draw_body import PERSON, Sprite, draw_person, pattern_texture
from corpus.synth.draw_character import draw_attack, draw_character
from corpus.synth.draw_product import LIQUID, compose_product, draw_product_art
from corpus.synth.motion import STAND_CENTRE, Pose, poses
from corpus.synth.ontology import COLOURS, PRODUCTS, SETTINGS
from corpus.synth.overlays import draw_hud, draw_overlay, hud_state, shot_seed
from corpus.synth.plan import VideoSpec
from corpus.synth.scene import Shot
from media.writer import write_video

__all__ = ["render_frames", "render_shot", "render_video"]

FEET_Y = 0.93  # where people and characters stand, fraction of height
_ADULT, _CHILD, _CHIBI = 0.6, 0.46, 0.5  # figure heights, fraction of frame height
_REACH_DEG = 78.0  # right-arm angle when reaching the stand (see draw_body.arm_angles)


def _paste(frame: Image.Image, img: Image.Image, x: float, y: float) -> None:
    frame.paste(img, (round(x), round(y)), img)


def _rotate_about(
    img: Image.Image, angle: float, anchor: tuple[float, float]
) -> tuple[Image.Image, tuple[float, float]]:
    """Rotate ``img`` by ``angle`` degrees CCW (expanding the canvas) and return where ``anchor`` went."""
    w, h = img.size
    out = img.rotate(angle, resample=Image.BILINEAR, expand=True)
    t = math.radians(angle)
    dx, dy = anchor[0] - w / 2, anchor[1] - h / 2
    return out, (
        out.width / 2 + dx * math.cos(t) + dy * math.sin(t),
        out.height / 2 - dx * math.sin(t) + dy * math.cos(t),
    )


def _enemy(d: ImageDraw.ImageDraw, enemy: tuple[str, str], w: int, h: int, t: int) -> None:
    kind, colour = enemy
    rgb = COLOURS[colour]
    bob = 3 * math.sin(t * 0.7)
    if kind == "slime":
        x0, x1, y1 = 0.72 * w, 0.98 * w, FEET_Y * h
        d.chord((x0, y1 - 0.12 * h + bob, x1, y1 + 0.06 * h), 180, 360, fill=rgb, outline=(0, 0, 0), width=2)
        for ex in (0.8, 0.9):
            d.ellipse((ex * w - 3, y1 - 0.05 * h + bob, ex * w + 3, y1 - 0.05 * h + 6 + bob), fill=(255, 255, 255))
    else:
        cx, cy = 0.82 * w, 0.4 * h + 2 * bob
        flap = 8 * math.sin(t * 1.3)
        for s in (-1, 1):
            d.polygon(
                [(cx, cy), (cx + s * 0.16 * w, cy - 10 + flap), (cx + s * 0.1 * w, cy + 8)], fill=rgb, outline=(0, 0, 0)
            )
        d.ellipse((cx - 8, cy - 8, cx + 8, cy + 8), fill=rgb, outline=(0, 0, 0))
        d.ellipse((cx - 5, cy - 3, cx - 1, cy + 1), fill=(255, 230, 0))
        d.ellipse((cx + 1, cy - 3, cx + 5, cy + 1), fill=(255, 230, 0))


class _ShotRenderer:
    """Everything drawn once per shot, and the per-frame composition."""

    def __init__(self, shot: Shot, w: int, h: int, seed: int):
        self.shot, self.w, self.h, self.t = shot, w, h, 0
        self.bg = draw_background(shot.setting, w, h, backdrop=shot.backdrop, seed=seed)
        screen = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        if shot.hud:
            health, score = hud_state(seed)  # the OCR ground truth reads the score from the same function
            screen.alpha_composite(draw_hud(w, h, health=health, score=score))
        if shot.overlay is not None:
            screen.alpha_composite(draw_overlay(shot.overlay, w, h))
        self.screen = screen if (shot.hud or shot.overlay is not None) else None
        self.feet = FEET_Y * h
        if shot.person is not None:
            frac = _ADULT if shot.person.noun in ("woman", "man") else _CHILD
            self.u = frac * h / 100
            self.texture = pattern_texture(shot.person.clothing_colour, shot.person.pattern, self.u)
        elif shot.character is not None:
            self.u = _CHIBI * h / 100
        self.art = None
        if shot.product is not None:
            cat = PRODUCTS[shot.product.category]
            if shot.kind == "person_product":
                height = min(0.15 * h, 0.3 * w / cat.aspect)
            else:
                height = min(0.36 * h, 0.8 * w / cat.aspect)
            self.art = draw_product_art(shot.product, max(8, round(height)), seed=seed)
        # The stand is drawn when the product rests on it at some point (and so the description names it).
        self.stand = shot.kind == "person_product" and (not shot.held or "put_down" in shot.movements)
        if shot.kind == "person_product":  # a stand at the reach of the right hand of a centred person
            hx, hy = PERSON.hand(1, _REACH_DEG)
            ph = self.art.body_size[1]
            self.stand_xy = (STAND_CENTRE * w + hx * self.u, self.feet + hy * self.u)
            self.stand_top = self.stand_xy[1] + ph / 2

    def frame(self, pose: Pose) -> np.ndarray:
        shot, w, h = self.shot, self.w, self.h
        img = self.bg.copy()
        d = ImageDraw.Draw(img)
        if shot.enemy is not None:
            _enemy(d, shot.enemy, w, h, self.t)
        if self.stand:
            sw = 0.08 * w
            x = self.stand_xy[0]
            d.rectangle(
                (x - sw, self.stand_top, x + sw, self.feet), fill=(245, 245, 245), outline=(60, 60, 60), width=2
            )
        if shot.kind in ("person", "person_product"):
            centre = self._body(img, draw_person(shot.person, pose, self.u, self.texture), pose, 100 * self.u)
        elif shot.kind == "character":
            centre = self._character(img, pose)
        else:
            centre = self._product(img, pose)
        if pose.zoom > 1.001:  # the camera does not follow the subject: later movements show in the zoomed frame
            img = self._zoom(img, pose.zoom, (pose.cx * w, centre[1] - pose.dy * h))
        if self.screen is not None:
            img.paste(self.screen, (0, 0), self.screen)
        self.t += 1
        return np.asarray(img)

    def _place(self, sprite: Sprite, pose: Pose) -> tuple[Image.Image, float, float, float]:
        """Squash the sprite for a spin; returns the image, its paste position and the x scale."""
        img, (ax, ay) = sprite.image, sprite.anchor
        sx = pose.sx
        if abs(sx) < 0.999:
            nw = max(2, round(img.width * abs(sx)))
            img = img.resize((nw, img.height), Image.BILINEAR)
            ax = ax * nw / sprite.image.width
        return img, pose.x * self.w - ax, self.feet + pose.dy * self.h - ay, sx

    def _body(self, frame: Image.Image, sprite: Sprite, pose: Pose, height: float) -> tuple[float, float]:
        img, px, py, sx = self._place(sprite, pose)
        _paste(frame, img, px, py)
        cx = pose.x * self.w
        feet = self.feet + pose.dy * self.h
        if self.shot.kind == "person_product":
            hx = cx + (sprite.right_hand[0] - sprite.anchor[0]) * sx
            hy = feet + (sprite.right_hand[1] - sprite.anchor[1])
            ph = self.art.body_size[1]
            sx0, sy0 = self.stand_xy[0], self.stand_top - ph / 2
            x = sx0 + (hx - sx0) * pose.hold + pose.shake / 40 * 0.05 * self.w  # a shake also jerks sideways
            y = sy0 + (hy - sy0) * pose.hold
            self._draw_product(frame, x, y, angle=-110 * pose.tilt + pose.shake, lid=0.0, pose=pose)
        return cx, feet - 0.5 * height

    def _character(self, frame: Image.Image, pose: Pose) -> tuple[float, float]:
        ch = self.shot.character
        sprite = draw_character(ch, pose, self.u)
        if pose.lying > 0:  # falls over to the right, pivoting on the feet
            img, (ax, ay) = _rotate_about(sprite.image, -90 * pose.lying, sprite.anchor)
            _paste(frame, img, pose.x * self.w - ax, self.feet - ay)
        else:
            img, px, py, _ = self._place(sprite, pose)
            _paste(frame, img, px, py)
            if pose.effect >= 0:
                hand = (px + sprite.right_hand[0], py + sprite.right_hand[1])
                draw_attack(ImageDraw.Draw(frame), ch.cls, hand, pose.effect, self.u, self.w)
        return pose.x * self.w, self.feet + pose.dy * self.h - 50 * self.u

    def _product(self, frame: Image.Image, pose: Pose) -> tuple[float, float]:
        ph = self.art.body_size[1]
        y_surface = SETTINGS[self.shot.setting].surface_y * self.h
        x, y = pose.x * self.w, y_surface - ph / 2 + pose.dy * self.h
        self._draw_product(frame, x, y, angle=pose.angle - 110 * pose.tilt, lid=pose.lid, pose=pose)
        return x, y

    def _draw_product(self, frame: Image.Image, x: float, y: float, *, angle: float, lid: float, pose: Pose) -> None:
        art = self.art
        img = compose_product(art, lid=lid, angle=angle)
        cx, cy = art.centre
        _paste(frame, img, x - cx, y - cy)
        if pose.stream:  # liquid from the mouth (top centre of the body, rotated) down to the floor
            t = math.radians(angle)
            mx = x + (-art.body_size[1] / 2) * math.sin(t)
            my = y + (-art.body_size[1] / 2) * math.cos(t)
            floor = self.feet if self.shot.kind == "person_product" else SETTINGS[self.shot.setting].surface_y * self.h
            d = ImageDraw.Draw(frame)
            d.line((mx, my, mx + 2, floor), fill=LIQUID, width=max(3, self.w // 40))
            d.ellipse((mx - 0.1 * self.w, floor - 4, mx + 0.1 * self.w, floor + 4), fill=LIQUID)

    def _zoom(self, img: Image.Image, zoom: float, centre: tuple[float, float]) -> Image.Image:
        w, h = self.w, self.h
        cw, ch = w / zoom, h / zoom
        x0 = min(max(centre[0] - cw / 2, 0.0), w - cw)
        y0 = min(max(centre[1] - ch / 2, 0.0), h - ch)
        return img.resize((w, h), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))


def render_shot(shot: Shot, width: int, height: int, *, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield the frames (H, W, 3) uint8 of one shot."""
    r = _ShotRenderer(shot, width, height, seed)
    for pose in poses(shot):
        yield r.frame(pose)


def render_frames(video: VideoSpec, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield every frame of ``video``, shot after shot (cuts fall exactly on the shots' frame counts)."""
    for k, shot in enumerate(video.shots):
        yield from render_shot(shot, width, height, seed=shot_seed(video.seed, k))


def render_video(video: VideoSpec, path: str | Path, *, width: int, height: int, crf: int = 23) -> Path:
    """Render ``video`` and write it as an h264 mp4 at ``path`` (atomically)."""
    return write_video(path, render_frames(video, width, height), video.fps, crf=crf)
